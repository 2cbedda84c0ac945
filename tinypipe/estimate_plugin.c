/*
 * estimate_plugin.c - QEMU TCG plugin for tinypipe's cycle estimate (tinypipe/estimate.py).
 *
 * Counts, per executed guest instruction address, in program order:
 *   exec        executions
 *   taken       times the next executed instruction was not the next one in memory (control left)
 *   jumped_in   times this instruction was reached other than from the one before it in memory
 *   mem         data accesses (one per register of an LDM/STM)
 *   mem_flash   data accesses to the flash range
 *   dmiss       flash loads that missed the simulated data cache (LRU)
 *   imiss_seq   instruction-fetch chunks from flash that missed the simulated instruction cache,
 *               reached sequentially (prefetchable) ...
 *   imiss_jump  ... or after a jump
 * Optionally only inside one function: from executing `entry` until control reaches the
 * address after the instruction that called it (one inference: tp_<model>_invoke).
 *
 * Arguments (-plugin file=estimate_plugin.so,key=value,...):
 *   out=PATH                 where the counts are written at exit (required)
 *   entry=ADDR               count only inside calls of the function at ADDR (default: everything)
 *   flash=LO:HI              the flash address range [LO, HI) (default: none)
 *   iline=B ilines=N iways=W instruction fetch chunk/cache line of B bytes; N lines (0: no cache);
 *                            W ways (0: fully associative)
 *   dline=B dlines=N dways=W the same for data loads from flash
 *
 * The QEMU plugin API is declared here rather than taken from qemu-plugin.h, which distributions
 * do not ship: only the calls below are used, whose signatures QEMU 5.2 to 10 share.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef uint32_t qemu_plugin_meminfo_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
struct qemu_info_t;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info,
                                          uint64_t vaddr, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw,
                                      void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
bool qemu_plugin_mem_is_store(qemu_plugin_meminfo_t info);
unsigned int qemu_plugin_mem_size_shift(qemu_plugin_meminfo_t info);

/* The API version this plugin asks for: 1 up to QEMU 8.2, 2 from 9.0 (which dropped version 1);
 * the calls above are the same in both. tinypipe.estimate passes -DTP_PLUGIN_VERSION. */
#ifndef TP_PLUGIN_VERSION
#define TP_PLUGIN_VERSION 1
#endif
__attribute__((visibility("default"))) int qemu_plugin_version = TP_PLUGIN_VERSION;

typedef struct {
    uint64_t pc;
    uint64_t size;
    uint64_t exec, taken, jumped_in, mem, mem_flash, dmiss, imiss_seq, imiss_jump;
} insn_t;

/* --- instruction table: open addressing on the address ------------------------------------ */

static insn_t **table;
static size_t table_cap, table_len;

static size_t slot_of(uint64_t pc, size_t cap)
{
    return (size_t)((pc >> 1) * 0x9E3779B97F4A7C15ull) & (cap - 1);
}

static insn_t *insn_for(uint64_t pc, uint64_t size)
{
    if (2 * (table_len + 1) > table_cap) {
        size_t cap = table_cap ? 2 * table_cap : 4096;
        insn_t **grown = calloc(cap, sizeof *grown);
        for (size_t i = 0; i < table_cap; i++) {
            if (table[i]) {
                size_t s = slot_of(table[i]->pc, cap);
                while (grown[s]) {
                    s = (s + 1) & (cap - 1);
                }
                grown[s] = table[i];
            }
        }
        free(table);
        table_cap = cap;
        table = grown;
    }
    size_t s = slot_of(pc, table_cap);
    while (table[s] && table[s]->pc != pc) {
        s = (s + 1) & (table_cap - 1);
    }
    if (!table[s]) {
        table[s] = calloc(1, sizeof(insn_t));
        table[s]->pc = pc;
        table[s]->size = size;
        table_len++;
    }
    return table[s];
}

/* --- LRU caches --------------------------------------------------------------------------- */

typedef struct {
    uint64_t line;       /* bytes per line (also the fetch chunk) */
    uint64_t ways, sets; /* ways == 0: no cache */
    uint64_t *tags, *stamp;
    uint64_t clock;
} cache_t;

static void cache_init(cache_t *c, uint64_t line, uint64_t lines, uint64_t ways)
{
    c->line = line ? line : 8;
    if (lines == 0) {
        c->ways = c->sets = 0;
        return;
    }
    c->ways = (ways == 0 || ways > lines) ? lines : ways;
    c->sets = lines / c->ways;
    c->tags = malloc(lines * sizeof *c->tags);
    c->stamp = calloc(lines, sizeof *c->stamp);
    for (uint64_t i = 0; i < lines; i++) {
        c->tags[i] = UINT64_MAX;
    }
}

/* Look a line number up, fill it on a miss; true on a hit. */
static bool cache_access(cache_t *c, uint64_t lineno)
{
    if (c->ways == 0) {
        return false;
    }
    uint64_t *tags = c->tags + (lineno % c->sets) * c->ways;
    uint64_t *stamp = c->stamp + (lineno % c->sets) * c->ways;
    uint64_t victim = 0;
    c->clock++;
    for (uint64_t w = 0; w < c->ways; w++) {
        if (tags[w] == lineno) {
            stamp[w] = c->clock;
            return true;
        }
        if (stamp[w] < stamp[victim]) {
            victim = w;
        }
    }
    tags[victim] = lineno;
    stamp[victim] = c->clock;
    return false;
}

/* --- state -------------------------------------------------------------------------------- */

static const char *out_path;
static bool has_entry, inside;
static uint64_t entry, ret_pc, call_pc, regions;
static uint64_t prev_pc = UINT64_MAX, prev_end = UINT64_MAX;
static insn_t *prev; /* the previous instruction counted inside the region */
static uint64_t flash_lo, flash_hi;
static cache_t icache, dcache;
static uint64_t fetch_line = UINT64_MAX;

static bool in_flash(uint64_t a) { return a >= flash_lo && a < flash_hi; }

static void on_exec(unsigned int vcpu, void *userdata)
{
    insn_t *i = userdata;
    bool jump = i->pc != prev_end;
    (void)vcpu;
    if (inside) {
        if (has_entry && i->pc == ret_pc) {
            if (prev && jump) {
                prev->taken++;
            }
            inside = false;
            prev = NULL;
        }
    } else if (!has_entry || i->pc == entry) {
        inside = true;
        regions++;
        ret_pc = prev_end;
        call_pc = prev_pc;
        prev = NULL;
    }
    if (inside) {
        i->exec++;
        if (prev == NULL) {
            i->jumped_in++;
        } else if (jump) {
            prev->taken++;
            i->jumped_in++;
        }
        prev = i;
    }
    if (in_flash(i->pc)) {
        for (uint64_t l = i->pc / icache.line; l <= (i->pc + i->size - 1) / icache.line; l++) {
            if (l != fetch_line) {
                bool seq = l == fetch_line + 1;
                fetch_line = l;
                if (!cache_access(&icache, l) && inside) {
                    if (seq) {
                        i->imiss_seq++;
                    } else {
                        i->imiss_jump++;
                    }
                }
            }
        }
    } else {
        fetch_line = UINT64_MAX;
    }
    prev_pc = i->pc;
    prev_end = i->pc + i->size;
}

static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *userdata)
{
    insn_t *i = userdata;
    uint64_t last = vaddr + (1u << qemu_plugin_mem_size_shift(info)) - 1;
    bool flash = in_flash(vaddr), load = !qemu_plugin_mem_is_store(info), hit = true;
    (void)vcpu;
    if (flash && load) {
        for (uint64_t l = vaddr / dcache.line; l <= last / dcache.line; l++) {
            hit &= cache_access(&dcache, l);
        }
    }
    if (inside) {
        i->mem++;
        i->mem_flash += flash;
        i->dmiss += flash && load && !hit;
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    for (size_t k = 0, n = qemu_plugin_tb_n_insns(tb); k < n; k++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, k);
        insn_t *i = insn_for(qemu_plugin_insn_vaddr(insn), qemu_plugin_insn_size(insn));
        qemu_plugin_register_vcpu_insn_exec_cb(insn, on_exec, QEMU_PLUGIN_CB_NO_REGS, i);
        qemu_plugin_register_vcpu_mem_cb(insn, on_mem, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, i);
    }
}

static void write_counts(qemu_plugin_id_t id, void *userdata)
{
    (void)id;
    (void)userdata;
    FILE *fp = fopen(out_path, "w");
    if (fp == NULL) {
        return;
    }
    fprintf(fp, "regions %llu call %llu\n", (unsigned long long)regions, (unsigned long long)call_pc);
    for (size_t s = 0; s < table_cap; s++) {
        insn_t *i = table[s];
        if (i && i->exec) {
            fprintf(fp, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu\n", (unsigned long long)i->pc,
                    (unsigned long long)i->size, (unsigned long long)i->exec, (unsigned long long)i->taken,
                    (unsigned long long)i->jumped_in, (unsigned long long)i->mem,
                    (unsigned long long)i->mem_flash, (unsigned long long)i->dmiss,
                    (unsigned long long)i->imiss_seq, (unsigned long long)i->imiss_jump);
        }
    }
    fclose(fp);
}

static uint64_t number(const char *s) { return strtoull(s, NULL, 0); }

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
                                                               const struct qemu_info_t *info,
                                                               int argc, char **argv)
{
    uint64_t iline = 8, ilines = 0, iways = 0, dline = 8, dlines = 0, dways = 0;
    (void)info;
    for (int k = 0; k < argc; k++) {
        const char *eq = strchr(argv[k], '=');
        if (eq == NULL) {
            fprintf(stderr, "estimate_plugin: bad argument %s\n", argv[k]);
            return 1;
        }
        const char *key = argv[k], *value = eq + 1;
        size_t n = (size_t)(eq - key);
#define KEY(name) (n == strlen(name) && strncmp(key, name, n) == 0)
        if (KEY("out")) {
            out_path = value;
        } else if (KEY("entry")) {
            has_entry = true;
            entry = number(value) & ~(uint64_t)1;
        } else if (KEY("flash")) {
            const char *colon = strchr(value, ':');
            if (colon == NULL) {
                fprintf(stderr, "estimate_plugin: flash=LO:HI\n");
                return 1;
            }
            flash_lo = number(value);
            flash_hi = number(colon + 1);
        } else if (KEY("iline")) {
            iline = number(value);
        } else if (KEY("ilines")) {
            ilines = number(value);
        } else if (KEY("iways")) {
            iways = number(value);
        } else if (KEY("dline")) {
            dline = number(value);
        } else if (KEY("dlines")) {
            dlines = number(value);
        } else if (KEY("dways")) {
            dways = number(value);
        } else {
            fprintf(stderr, "estimate_plugin: unknown argument %s\n", argv[k]);
            return 1;
        }
#undef KEY
    }
    if (out_path == NULL) {
        fprintf(stderr, "estimate_plugin: out=PATH is required\n");
        return 1;
    }
    cache_init(&icache, iline, ilines, iways);
    cache_init(&dcache, dline, dlines, dways);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_counts, NULL);
    return 0;
}
