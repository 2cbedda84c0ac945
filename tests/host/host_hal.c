/*
 * host_hal.c - tp_hal.h on a Linux host, for testing the harness without a board.
 *
 * The "serial port" is a TCP socket, like QEMU's `-serial tcp::PORT,server`: the program
 * listens on 127.0.0.1 (an ephemeral port unless TP_HOST_PORT is set), prints
 * "PORT <n>" on stdout, and waits for one connection, which the tests open with pyserial's
 * socket:// URL. Ticks are CLOCK_MONOTONIC nanoseconds.
 *
 * TP_HOST_NOISE=1 makes it send line noise before the first record, as a board does
 * when a monitor attaches mid-boot.
 */
#ifndef _POSIX_C_SOURCE /* the build may set it (it must precede every header) */
#define _POSIX_C_SOURCE 200809L
#endif

#include "tp_hal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HOST_ACCEPT_TIMEOUT_MS 60000
#define HOST_EXIT_NO_CLIENT 3
#define HOST_EXIT_DISCONNECTED 4
#define NANOSECONDS_PER_SECOND 1000000000u

static int client_fd = -1;

static void die(const char *what, int code)
{
    perror(what);
    exit(code);
}

void tp_hal_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    const char *port_env = getenv("TP_HOST_PORT");
    int server = socket(AF_INET, SOCK_STREAM, 0);
    int reuse = 1;
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)(port_env ? atoi(port_env) : 0));
    if (bind(server, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(server, 1) != 0) {
        die("host_hal: bind/listen", HOST_EXIT_NO_CLIENT);
    }
    socklen_t len = sizeof addr;
    getsockname(server, (struct sockaddr *)&addr, &len);
    printf("PORT %u\n", (unsigned)ntohs(addr.sin_port));
    fflush(stdout);

    struct pollfd pfd = {.fd = server, .events = POLLIN};
    if (poll(&pfd, 1, HOST_ACCEPT_TIMEOUT_MS) != 1) {
        fprintf(stderr, "host_hal: nobody connected\n");
        exit(HOST_EXIT_NO_CLIENT);
    }
    client_fd = accept(server, NULL, NULL);
    close(server);
    if (client_fd < 0) {
        die("host_hal: accept", HOST_EXIT_NO_CLIENT);
    }
    if (getenv("TP_HOST_NOISE") != NULL) {
        static const char noise[] = "\x00\xff\xfe garbage before boot \x07\r\nTP\r\nTPX nonsense\r\n";
        tp_hal_write(noise, sizeof noise - 1);
    }
}

void tp_hal_write(const void *data, uint32_t len)
{
    const char *p = (const char *)data;
    while (len > 0) {
        ssize_t n = send(client_fd, p, len, 0);
        if (n <= 0) {
            exit(HOST_EXIT_DISCONNECTED);
        }
        p += n;
        len -= (uint32_t)n;
    }
}

uint32_t tp_hal_read(void *data, uint32_t len, uint32_t timeout_ms)
{
    char *p = (char *)data;
    uint32_t got = 0;
    while (got < len) {
        struct pollfd pfd = {.fd = client_fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)timeout_ms) != 1) {
            break;
        }
        ssize_t n = recv(client_fd, p + got, len - got, 0);
        if (n <= 0) {
            exit(HOST_EXIT_DISCONNECTED);
        }
        got += (uint32_t)n;
    }
    return got;
}

uint64_t tp_hal_ticks(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NANOSECONDS_PER_SECOND + (uint64_t)ts.tv_nsec;
}

uint32_t tp_hal_tick_hz(void) { return NANOSECONDS_PER_SECOND; }
uint32_t tp_hal_units_per_tick(void) { return 1; }
const char *tp_hal_unit(void) { return "nanoseconds"; }
const char *tp_hal_timer(void) { return "clock_monotonic"; }

void tp_hal_exit(int code)
{
    if (client_fd >= 0) {
        shutdown(client_fd, SHUT_RDWR);
        close(client_fd);
    }
    exit(code);
}
