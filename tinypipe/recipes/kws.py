"""`kws`: keyword spotting on speech synthesized offline with espeak-ng, DS-CNN on MFCCs.

Twelve classes as in MLPerf Tiny / Speech Commands v0.02: ten keywords, `silence` and
`unknown` (other words). Each voice (an English accent x an espeak-ng voice variant) reads
every keyword plus a few unknown words in two takes at random speed and pitch; one espeak-ng
process per take reads all words separated by SSML pauses, and the audio is split at the
longest silences. Clips are placed at random in a one-second window over background noise
(white, pink, brown, mains hum) at random SNR; training words are also speed-perturbed.
The test set holds out whole voice variants, so accuracy is measured on voices the model
never heard.

Features (what firmware must reproduce): 16 kHz audio, 30 ms Hann frames every 20 ms (49
frames), 512-point FFT, 40 mel bands 20-4000 Hz, natural log (+1e-6), DCT-II (orthonormal),
first 10 coefficients -> input (49, 10, 1). (Standardizing the coefficients was tried and
generalized worse to unseen voices than the raw MFCCs, as in MLPerf Tiny's KWS.)

Synthesized audio is cached in $TINYPIPE_CACHE (default ~/.cache/tinypipe) under a key of
the synthesis parameters and the espeak-ng version, so reruns skip synthesis.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

from tinypipe.errors import TinypipeError
from tinypipe.recipes.base import Dataset, Recipe, calib_subset, split_indices
from tinypipe.recipes.nets import ds_cnn

KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
CLASSES = ["silence", "unknown", *KEYWORDS]
UNKNOWN_WORDS = [
    "bed",
    "bird",
    "cat",
    "dog",
    "happy",
    "house",
    "marvin",
    "sheila",
    "tree",
    "wow",
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "follow",
    "learn",
    "visual",
    "forward",
    "backward",
]
ACCENTS = [
    "en",
    "en-us",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-rp",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
]
VARIANTS = [
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "m8",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "klatt",
    "klatt2",
    "klatt3",
    "klatt4",
    "klatt5",
    "klatt6",
    "croak",
    "whisper",
    "whisperf",
    "adam",
    "Alex",
    "Alicia",
    "Andrea",
    "Andy",
    "Annie",
    "aunty",
    "belinda",
    "benjamin",
    "boris",
    "caleb",
    "david",
    "ed",
    "edward",
    "Gene",
    "gustave",
    "Henrique",
    "Hugo",
    "iven",
    "Jacky",
    "john",
    "Lee",
    "linda",
    "Marco",
    "max",
    "Michael",
    "Mike",
    "norbert",
    "pablo",
    "paul",
    "quincy",
    "rob",
    "robert",
    "steph",
    "travis",
    "victor",
    "zac",
    "grandma",
    "grandpa",
    "shelby",
    "sandro",
    "anika",
]
TAKES = 2  # renders per voice, each at its own speed and pitch
UNKNOWN_PER_TAKE = 2
ESPEAK_RATE = 22050
RATE = 16000
FRAME, HOP, NFFT, MELS, MFCCS = 480, 320, 512, 40, 10
FRAMES = 1 + (RATE - FRAME) // HOP  # 49


# --- synthesis --------------------------------------------------------------------------------


def _espeak_version() -> str:
    try:
        return subprocess.run(
            ["espeak-ng", "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise TinypipeError(
            "espeak-ng is not installed; the kws recipe synthesizes its speech with it",
            "run ./scripts/setup.sh (it installs the espeak-ng Debian package)",
        ) from None


def _split_words(audio: np.ndarray, n: int) -> list[np.ndarray] | None:
    """Cut a take into its n words at the n-1 longest pauses; None if the pauses are unclear.

    Pauses are found at -34 dB of the take's loudest 10 ms frame; each word is then trimmed
    at -60 dB so weak fricatives (the f of "off", the s of "yes") stay in.
    """
    hop = ESPEAK_RATE // 100  # 10 ms
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    loud = np.flatnonzero(rms > 0.02 * rms.max())
    if len(loud) == 0:
        return None
    pairs = zip(loud[:-1], loud[1:], strict=True)
    gaps = sorted(((b - a, a, b) for a, b in pairs if b - a > 1), reverse=True)
    if len(gaps) < n - 1 or gaps[n - 2][0] < 20:  # the SSML pause is 500 ms; words hold < 100 ms gaps
        return None
    cuts = [0, *sorted((a + b) // 2 for _, a, b in gaps[: n - 1]), len(rms)]
    words = []
    for start, end in zip(cuts[:-1], cuts[1:], strict=True):
        voiced = start + np.flatnonzero(rms[start:end] > 1e-3 * rms.max())
        words.append(audio[voiced[0] * hop : (voiced[-1] + 1) * hop])
    return words


def _take(job: tuple[str, str, int, int, list[str]]) -> list[np.ndarray] | None:
    from scipy.signal import resample_poly

    accent, variant, speed, pitch, words = job
    ssml = "<speak>" + '<break time="500ms"/>'.join(words) + "</speak>"
    proc = subprocess.run(
        [
            "espeak-ng",
            "-m",
            "-v",
            f"{accent}+{variant}",
            "-s",
            str(speed),
            "-p",
            str(pitch),
            "--stdout",
            ssml,
        ],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0 or len(proc.stdout) < 1000:
        return None
    audio = (
        np.frombuffer(proc.stdout[44 : len(proc.stdout) // 2 * 2], dtype=np.int16).astype(np.float32) / 32768
    )
    parts = _split_words(audio, len(words))
    return None if parts is None else [resample_poly(p, 320, 441).astype(np.float32) for p in parts]


def _cache_dir() -> Path:
    return Path(os.environ.get("TINYPIPE_CACHE", Path.home() / ".cache" / "tinypipe"))


def synthesize(seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(16 kHz word clips, class index per clip, voice variant index per clip), cached on disk."""

    rng = np.random.default_rng(seed)
    jobs = []
    for accent in ACCENTS:
        for variant in VARIANTS:
            for _ in range(TAKES):
                words = KEYWORDS + list(rng.choice(UNKNOWN_WORDS, size=UNKNOWN_PER_TAKE, replace=False))
                jobs.append((accent, variant, int(rng.integers(130, 211)), int(rng.integers(25, 76)), words))
    key = hashlib.sha256(json.dumps([jobs, _espeak_version(), RATE, "split-v2"]).encode()).hexdigest()[:16]
    path = _cache_dir() / f"kws-{key}.npz"
    if not path.is_file():
        _synthesize_to(path, jobs)
    with np.load(path) as cached:  # audio is stored as int16; first run and reruns read the same
        audio = cached["audio"].astype(np.float32) / 32767.0
        return np.split(audio, cached["offsets"][1:-1]), cached["labels"], cached["voices"]


def _synthesize_to(path: Path, jobs: list[tuple[str, str, int, int, list[str]]]) -> None:
    from rich.progress import track

    clips: list[np.ndarray] = []
    labels: list[int] = []
    voices: list[int] = []
    failed = 0
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        for job, parts in track(
            zip(jobs, pool.map(_take, jobs), strict=True),
            total=len(jobs),
            transient=True,
            description="synthesizing speech with espeak-ng",
        ):
            if parts is None:
                failed += 1
                continue
            for word, clip in zip(job[4], parts, strict=True):
                clips.append(clip)
                labels.append(CLASSES.index(word) if word in KEYWORDS else CLASSES.index("unknown"))
                voices.append(VARIANTS.index(job[1]))
    if failed > len(jobs) // 10:
        raise TinypipeError(
            f"espeak-ng: {failed} of {len(jobs)} takes gave no usable speech",
            "check that `espeak-ng -v en-us+m3 --stdout yes` writes a WAV file",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(
        tmp,
        audio=np.round(np.clip(np.concatenate(clips), -1, 1) * 32767).astype(np.int16),
        offsets=np.cumsum([0] + [len(c) for c in clips]),
        labels=np.array(labels),
        voices=np.array(voices),
    )
    os.replace(tmp, path)  # atomic: parallel test workers never read a half-written cache


# --- one-second clips with noise, and features ------------------------------------------------


def _noise_bank(rng: np.random.Generator, n: int = 24, seconds: int = 4) -> np.ndarray:
    """n unit-RMS background recordings: white, pink and brown noise and mains hum with harmonics."""
    length = seconds * RATE
    bank = np.empty((n, length), dtype=np.float32)
    t = np.arange(length) / RATE
    for i in range(n):
        kind = i % 4
        if kind == 3:
            f = 50.0 if i % 8 == 3 else 60.0
            sig = sum(
                rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * k * f * t + rng.uniform(0, 6.3))
                for k in range(1, 6)
            ) + 0.1 * rng.standard_normal(length)
        else:
            spectrum = np.fft.rfft(rng.standard_normal(length))
            spectrum *= np.maximum(np.arange(len(spectrum)), 1.0) ** (-0.5 * kind)  # white, pink, brown
            sig = np.fft.irfft(spectrum, length)
        bank[i] = sig / (np.std(sig) + 1e-12)
    return bank


def make_clips(
    words: list[np.ndarray], labels: np.ndarray, n_silence: int, rng: np.random.Generator, perturb: bool
) -> tuple[np.ndarray, np.ndarray]:
    """One-second 16 kHz clips: each word at a random offset and gain over noise, plus silence clips.

    With `perturb` (training), each word is first resampled by 0.85-1.15x (speed perturbation:
    pitch, formants and duration shift together), which helps the model reach unseen voices.
    """
    out = np.zeros((len(words) + n_silence, RATE), dtype=np.float32)
    bank = _noise_bank(rng)

    def noise() -> np.ndarray:
        start = rng.integers(0, bank.shape[1] - RATE)
        return bank[rng.integers(len(bank)), start : start + RATE]

    for i, w in enumerate(words):
        if perturb:
            factor = rng.uniform(0.85, 1.15)
            w = np.interp(np.arange(0, len(w) - 1, factor), np.arange(len(w)), w).astype(np.float32)
        w = w[:RATE] * (rng.uniform(0.1, 0.9) / (np.abs(w).max() + 1e-9))
        start = rng.integers(0, RATE - len(w) + 1)
        out[i, start : start + len(w)] = w
        if rng.random() < 0.8:
            out[i] += noise() * np.sqrt(np.mean(w**2)) * 10 ** (-rng.uniform(5, 40) / 20)
    for i in range(len(words), len(out)):
        out[i] = noise() * 10 ** rng.uniform(-4, -1.3) if rng.random() < 0.9 else 0.0
    return out, np.concatenate([labels, np.full(n_silence, CLASSES.index("silence"))])


def _mel_filters() -> np.ndarray:
    def mel(hz: np.ndarray) -> np.ndarray:
        return 1127.0 * np.log1p(hz / 700.0)

    edges = 700.0 * np.expm1(np.linspace(mel(np.array(20.0)), mel(np.array(4000.0)), MELS + 2) / 1127.0)
    bins = np.fft.rfftfreq(NFFT, 1.0 / RATE)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0.0, np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid))).T  # (257, 40)


def mfcc(audio: np.ndarray) -> np.ndarray:
    """(N, 16000) float audio -> (N, 49, 10, 1) MFCCs, per the module docstring."""
    from scipy.fft import dct, rfft

    idx = np.arange(FRAMES)[:, None] * HOP + np.arange(FRAME)[None, :]
    out = np.empty((len(audio), FRAMES, MFCCS, 1), dtype=np.float32)
    window, filters = np.hanning(FRAME).astype(np.float32), _mel_filters().astype(np.float32)
    for start in range(0, len(audio), 512):
        frames = audio[start : start + 512][:, idx] * window
        spec = rfft(frames, NFFT, axis=-1, workers=-1)
        power = spec.real**2 + spec.imag**2
        logmel = np.log(power @ filters + 1e-6)
        out[start : start + 512, :, :, 0] = dct(logmel, type=2, norm="ortho", axis=-1)[..., :MFCCS]
    return out


def data(seed: int) -> Dataset:
    words, labels, voices = synthesize(seed)
    rng = np.random.default_rng(seed)
    train, test = split_indices(len(words), 0.2, seed, groups=voices)
    sets = []
    for idx, perturb in ((train, True), (test, False)):
        n_silence = int(np.sum(labels[idx] == CLASSES.index("yes")))  # as many as one keyword
        audio, y = make_clips([words[i] for i in idx], labels[idx], n_silence, rng, perturb)
        sets.append((mfcc(audio), y.astype(np.int64)))
    (x_train, y_train), (x_test, y_test) = sets
    return Dataset(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        x_calib=calib_subset(x_train, 500, seed),
        class_names=CLASSES,
    )


RECIPE = Recipe(
    name="kws",
    task="classification",
    summary="DS-CNN keyword spotting on espeak-ng speech (MFCC)",
    epochs=12,
    data=data,
    build=partial(ds_cnn, channels=48),
    batch_size=64,
    learning_rate=3e-3,
)
