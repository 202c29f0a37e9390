/*
 * microkit.h for the service-fs simulator: libmicrokit for the host.
 *
 * A protection domain written in C against Microkit 2.3.0's libmicrokit API
 * compiles against this header instead of the SDK's and links with
 * libmicrokit_host.a (crates/microkit-host); the result is a host
 * executable the simulator runs as that PD. The names and signatures are
 * Microkit's for everything a client PD uses; every function is out of line
 * (implemented in Rust, speaking the simulator's protocol) rather than an
 * inline seL4 system call.
 *
 * Differences from seL4's libmicrokit:
 *  - At most MICROKIT_HOST_MAX_MRS (8) message registers cross a protected
 *    call or its reply; the rest are cut off with a warning on the console.
 *    The register array itself has seL4_MsgMaxLength (120) entries.
 *  - There are no interrupts: microkit_irqs is 0, so microkit_irq_ack and
 *    microkit_deferred_irq_ack always report an invalid channel.
 *  - Child PDs cannot be stopped, restarted or resumed: microkit_pd_stop,
 *    microkit_pd_restart and microkit_pd_resume print why and stop this PD.
 *    A faulted child stays stopped whatever fault() returns.
 *  - setvar_vaddr and setvar_size variables are found by name in the
 *    executable's symbol table at start: declare them as non-static
 *    uintptr_t globals and do not strip the executable.
 *  - No seL4 API (sel4/sel4.h), capabilities, VCPUs, I/O ports or SMC.
 *    microkit_msginfo is a plain struct: use the accessors.
 */
#ifndef MICROKIT_HOST_MICROKIT_H
#define MICROKIT_HOST_MICROKIT_H

#include <stddef.h>
#include <stdint.h>

/* The seL4 types a Microkit program uses, at their 64-bit sizes. */
typedef uint64_t seL4_Word;
typedef seL4_Word seL4_CPtr;
typedef int8_t seL4_Bool;
typedef int8_t seL4_Int8;
typedef int16_t seL4_Int16;
typedef int32_t seL4_Int32;
typedef int64_t seL4_Int64;
typedef uint8_t seL4_Uint8;
typedef uint16_t seL4_Uint16;
typedef uint32_t seL4_Uint32;
typedef uint64_t seL4_Uint64;

#define seL4_True ((seL4_Bool)1)
#define seL4_False ((seL4_Bool)0)

/* Message registers a PD may set and get (seL4's IPC buffer holds as many). */
#define seL4_MsgMaxLength 120
/* Message registers that cross a protected call in the simulator. */
#define MICROKIT_HOST_MAX_MRS 8

typedef unsigned int microkit_channel;
typedef unsigned int microkit_child;
typedef unsigned int microkit_ioport;

/* A message's label and register count. Its layout is the simulator's, not
 * seL4's packed word: build and read it only with the functions below. */
typedef struct {
    seL4_Word label;
    seL4_Word count;
} microkit_msginfo;

#define MICROKIT_MAX_CHANNELS 62
#define MICROKIT_MAX_CHANNEL_ID (MICROKIT_MAX_CHANNELS - 1)
#define MICROKIT_PD_NAME_LENGTH 64

/*
 * What the program provides. init and notified are required; a PD that is
 * called defines protected, one with children defines fault. As with
 * libmicrokit, a call or a child's fault reaching a PD without the handler
 * prints that it is missing and stops the PD.
 */
void init(void);
void notified(microkit_channel ch);
microkit_msginfo protected(microkit_channel ch, microkit_msginfo msginfo);
seL4_Bool fault(microkit_child child, microkit_msginfo msginfo, microkit_msginfo *reply_msginfo);

/* Set before init runs: the PD's name (NUL-terminated), and a bit per
 * channel id for the channels it may acknowledge interrupts on (none here),
 * notify, call, and the I/O ports it holds (none here). */
extern char microkit_name[MICROKIT_PD_NAME_LENGTH];
extern seL4_Word microkit_irqs;
extern seL4_Word microkit_notifications;
extern seL4_Word microkit_pps;
extern seL4_Word microkit_ioports;

/* The debug console: a character, a NUL-terminated string, and the decimal
 * form of an 8- or 32-bit number. Lines keep their order with the other
 * PDs' on the simulator's console. */
void microkit_dbg_putc(int c);
void microkit_dbg_puts(const char *s);
void microkit_dbg_put8(seL4_Uint8 x);
void microkit_dbg_put32(seL4_Uint32 x);

/* Signal the PD at the other end of ch. An ungranted channel prints
 * "<name> microkit_notify: invalid channel given '<ch>'" and does nothing. */
void microkit_notify(microkit_channel ch);

/* No interrupts in the simulator: always the invalid-channel message. */
void microkit_irq_ack(microkit_channel ch);

/* Protected procedure call on ch with msginfo's label and its first count
 * message registers; returns the reply's label and count, its registers in
 * the message registers. An ungranted channel prints
 * "<name> microkit_ppcall: invalid channel given '<ch>'" and returns
 * microkit_msginfo_new(0, 0) without calling. */
microkit_msginfo microkit_ppcall(microkit_channel ch, microkit_msginfo msginfo);

microkit_msginfo microkit_msginfo_new(seL4_Word label, seL4_Uint16 count);
seL4_Word microkit_msginfo_get_label(microkit_msginfo msginfo);
seL4_Word microkit_msginfo_get_count(microkit_msginfo msginfo);

/* Message register mr (below seL4_MsgMaxLength). */
void microkit_mr_set(seL4_Uint8 mr, seL4_Word value);
seL4_Word microkit_mr_get(seL4_Uint8 mr);

/* Signal ch once the current entry point returns (one signal is kept: a
 * second call replaces the first), as Microkit sends it with the next
 * receive. */
void microkit_deferred_notify(microkit_channel ch);
/* No interrupts in the simulator: always the invalid-channel message. */
void microkit_deferred_irq_ack(microkit_channel ch);

/* Not supported by the simulator: each prints so and stops this PD. */
void microkit_pd_restart(microkit_child pd, seL4_Word entry_point);
void microkit_pd_stop(microkit_child pd);
void microkit_pd_resume(microkit_child pd);

#endif /* MICROKIT_HOST_MICROKIT_H */
