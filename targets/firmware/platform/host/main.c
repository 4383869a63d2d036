/* Host build of the reference firmware: the Test Agent on stdin/stdout (serial framing,
 * spec §12.1, as on the UART) or on a TCP port, either with the 4-byte length prefix
 * (REQ-TCP-006, TAP only) or with the serial framing (both channels: TAP on channel 1, the
 * protocol's serial binding on channel 0, as a UART exported over TCP). */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "config.h"
#include "nvm_host.h"
#include "platform.h"
#include "tap.h"

static uint64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint32_t plat_millis(void) { return (uint32_t)(monotonic_ns() / 1000000u); }
uint64_t plat_cycles(void) { return monotonic_ns(); }
const char *plat_cycle_source(void) { return "host-ns"; }
uint32_t plat_clock_hz(void) { return 1000000000u; }
int plat_has_stack_paint(void) { return 0; }
uint8_t *plat_stack_limit(void) { return NULL; }
const char *plat_product(void) { return "pqiot reference firmware (host)"; }

static int write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void stdout_write(const uint8_t *data, size_t len, void *ctx)
{
    (void)ctx;
    if (write_all(STDOUT_FILENO, data, len) != 0) {
        exit(0); /* the host closed the pipe: nothing left to answer */
    }
}

/* The serial link on a pair of descriptors until EOF: bytes in, frames out, and the channel-0
 * retransmission timer run whenever the line is idle for POLL_MS. */
#define POLL_MS 50

static int serve_serial(int in_fd, fr_write_fn write_fn, void *ctx)
{
    static uint8_t buf[4096];
    struct pollfd pfd;

    agent_serial_init(write_fn, ctx);
    pfd.fd = in_fd;
    pfd.events = POLLIN;
    for (;;) {
        ssize_t n, i;
        int ready = poll(&pfd, 1, POLL_MS);
        if (ready < 0 && errno != EINTR) {
            return -1;
        }
        if (ready <= 0) {
            agent_serial_poll(plat_millis());
            continue;
        }
        n = read(in_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return 0;
        }
        for (i = 0; i < n; i++) {
            agent_serial_byte(buf[i], plat_millis());
        }
        agent_serial_poll(plat_millis());
    }
}

static int serve_stdio(void)
{
    return serve_serial(STDIN_FILENO, stdout_write, NULL) == 0 ? 0 : 1;
}

/* A TCP peer that went away ends the connection, not the process. */
static int socket_broken;

static void socket_write(const uint8_t *data, size_t len, void *ctx)
{
    int fd = *(const int *)ctx;
    if (!socket_broken && write_all(fd, data, len) != 0) {
        socket_broken = 1;
    }
}

static int read_exact(int fd, uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int discard_exact(int fd, size_t len)
{
    uint8_t sink[512];
    while (len > 0) {
        size_t chunk = len < sizeof(sink) ? len : sizeof(sink);
        if (read_exact(fd, sink, chunk) != 0) {
            return -1;
        }
        len -= chunk;
    }
    return 0;
}

/* Header and body in one write: with Nagle off, a split write would be two segments. */
static int send_frame(int fd, const uint8_t *msg, size_t len)
{
    static uint8_t frame[4 + TAP_MAX_RESPONSE];

    if (len == 0 || len > TAP_MAX_RESPONSE) {
        return -1;
    }
    frame[0] = (uint8_t)(len >> 24);
    frame[1] = (uint8_t)(len >> 16);
    frame[2] = (uint8_t)(len >> 8);
    frame[3] = (uint8_t)len;
    memcpy(frame + 4, msg, len);
    return write_all(fd, frame, 4 + len);
}

/* One TAP connection: frames until the peer closes or breaks the framing. */
static void serve_connection(int fd)
{
    static uint8_t request[TAP_MAX_REQUEST];
    uint8_t head[4];

    for (;;) {
        const uint8_t *resp;
        size_t len, resp_len;

        if (read_exact(fd, head, 4) != 0) {
            return;
        }
        len = ((size_t)head[0] << 24) | ((size_t)head[1] << 16) | ((size_t)head[2] << 8) | head[3];
        if (len == 0) {
            return; /* REQ-TCP-002: an empty frame ends the connection */
        }
        if (len > TAP_MAX_REQUEST) {
            if (discard_exact(fd, len) != 0) {
                return;
            }
            resp_len = agent_too_large(&resp);
        } else {
            if (read_exact(fd, request, len) != 0) {
                return;
            }
            resp_len = agent_handle(request, len, &resp);
        }
        if (send_frame(fd, resp, resp_len) != 0) {
            return;
        }
    }
}

static int serve_tcp(const char *bind_addr, int port, int serial_framing)
{
    struct sockaddr_in addr;
    socklen_t addr_len = sizeof(addr);
    int one = 1;
    int server = socket(AF_INET, SOCK_STREAM, 0);

    if (server < 0) {
        perror("socket");
        return 1;
    }
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1) {
        fprintf(stderr, "pqiot-fw: --bind needs an IPv4 address, got %s\n", bind_addr);
        return 2;
    }
    if (bind(server, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(server, 1) != 0) {
        perror("pqiot-fw: bind/listen");
        return 1;
    }
    getsockname(server, (struct sockaddr *)&addr, &addr_len);
    /* Tests start the agent on port 0 and read the chosen port from this line. */
    fprintf(stderr, "pqiot-fw: TAP listening on %s:%d\n", bind_addr, ntohs(addr.sin_port));
    fflush(stderr);
    for (;;) {
        int fd = accept(server, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("pqiot-fw: accept");
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (serial_framing) {
            socket_broken = 0;
            serve_serial(fd, socket_write, &fd);
        } else {
            serve_connection(fd);
        }
        close(fd);
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: pqiot-fw [--listen PORT [--bind ADDR] [--framing length|serial]] [--nvm FILE]\n"
            "                [--state-timer-ms MS] [--key-update-timeout-ms MS]\n"
            "  without options: Test Agent on stdin/stdout with serial framing (spec 12.1)\n"
            "  --listen PORT:   Test Agent on TCP, 4-byte length prefix (REQ-TCP-006);\n"
            "                   PORT 0 picks a free port and prints it on stderr\n"
            "  --framing serial: the TCP connection carries the serial framing instead\n"
            "                   (channel 1 TAP, channel 0 the protocol's serial binding)\n"
            "  --nvm FILE:      persistent session contexts (spec 7.7) in FILE (default:\n"
            "                   $PQIOT_FW_NVM, else memory only)\n"
            "  --state-timer-ms MS: handshake state timer, 1000..300000 (REQ-HS-037; default\n"
            "                   $PQIOT_FW_STATE_TIMER_MS, else 30000)\n"
            "  --key-update-timeout-ms MS: key-update timeout, 1000..300000 (REQ-KU-006;\n"
            "                   default $PQIOT_FW_KEY_UPDATE_TIMEOUT_MS, else 10000)\n");
}

/* A timer setting in ms, or -1 when text is not a plain decimal number. */
static long timer_ms(const char *text)
{
    char *end;
    long value;
    if (text == NULL || text[0] == '\0') {
        return -1;
    }
    value = strtol(text, &end, 10);
    return *end == '\0' ? value : -1;
}

int main(int argc, char **argv)
{
    const char *bind_addr = "127.0.0.1";
    const char *nvm_path = getenv("PQIOT_FW_NVM");
    int port = -1;
    int serial_framing = 0;
    long state_ms = getenv("PQIOT_FW_STATE_TIMER_MS") != NULL
                        ? timer_ms(getenv("PQIOT_FW_STATE_TIMER_MS")) : 0;
    long key_update_ms = getenv("PQIOT_FW_KEY_UPDATE_TIMEOUT_MS") != NULL
                             ? timer_ms(getenv("PQIOT_FW_KEY_UPDATE_TIMEOUT_MS")) : 0;
    int i;

    signal(SIGPIPE, SIG_IGN);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
            char *end;
            long value = strtol(argv[++i], &end, 10);
            if (*end != '\0' || value < 0 || value > 65535) {
                usage();
                return 2;
            }
            port = (int)value;
        } else if (strcmp(argv[i], "--framing") == 0 && i + 1 < argc) {
            ++i;
            if (strcmp(argv[i], "serial") == 0) {
                serial_framing = 1;
            } else if (strcmp(argv[i], "length") == 0) {
                serial_framing = 0;
            } else {
                usage();
                return 2;
            }
        } else if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc) {
            bind_addr = argv[++i];
        } else if (strcmp(argv[i], "--nvm") == 0 && i + 1 < argc) {
            nvm_path = argv[++i];
        } else if (strcmp(argv[i], "--state-timer-ms") == 0 && i + 1 < argc) {
            state_ms = timer_ms(argv[++i]);
        } else if (strcmp(argv[i], "--key-update-timeout-ms") == 0 && i + 1 < argc) {
            key_update_ms = timer_ms(argv[++i]);
        } else {
            usage();
            return 2;
        }
    }
    if (state_ms < 0 || key_update_ms < 0 || state_ms > 300000 || key_update_ms > 300000 ||
        tap_set_timers((uint32_t)state_ms, (uint32_t)key_update_ms) != 0) {
        fprintf(stderr, "timers must be 1000..300000 ms (REQ-HS-037, REQ-KU-006)\n");
        usage();
        return 2;
    }
    if (nvm_path != NULL && nvm_path[0] != '\0' && nvm_host_open(nvm_path) != 0) {
        fprintf(stderr, "cannot open the NVM file %s; check the path and permissions\n", nvm_path);
        return 2;
    }
    return port >= 0 ? serve_tcp(bind_addr, port, serial_framing) : serve_stdio();
}
