/*
 * A client PD in C, from docs/abi.md alone (this file is that page's
 * example, compiled by `make test` and `make image`). One PD holds three
 * identities of its tenant: channels 0, 1 and 2, each with its buffer at
 * sfs_buf_<ch> (sfs_buf_<ch>_size bytes). STATUS says which may append,
 * read and audit. It checks what the ABI promises and prints
 * "<pd>: PASS <check>" or "<pd>: FAIL <check>: <status>", then
 * "<pd>: DONE <n> passed, <m> failed".
 */
#include <microkit.h>
#include <stdint.h>

enum { APPEND = 1, READ_SINCE = 2, PROVE_INCLUSION = 4, READ_AUDIT = 6, STATUS = 8 };
enum { OK = 0, RECORD_TOO_LARGE = 5 };
enum { RIGHT_APPEND = 1, RIGHT_READ = 2, RIGHT_AUDIT = 8 };
#define ALL (RIGHT_APPEND | RIGHT_READ | RIGHT_AUDIT)
#define IDENTITIES 3

/* Patched by the Microkit tool (setvar_vaddr / setvar_size in system.xml). */
uintptr_t sfs_buf_0, sfs_buf_1, sfs_buf_2;
uintptr_t sfs_buf_0_size, sfs_buf_1_size, sfs_buf_2_size;

static microkit_channel writer, reader, auditor;
static uint8_t *buf[IDENTITIES];
static uint64_t buf_size[IDENTITIES];
static unsigned passed, failed;

static void say(const char *a, const char *b) {
    microkit_dbg_puts(microkit_name);
    microkit_dbg_puts(a);
    microkit_dbg_puts(b);
}

static void report(const char *check, uint64_t status) {
    if (status == OK) {
        passed++;
        say(": PASS ", check);
    } else {
        failed++;
        say(": FAIL ", check);
        microkit_dbg_puts(": status ");
        microkit_dbg_put32((uint32_t)status);
    }
    microkit_dbg_putc('\n');
}

/* One call: label, n argument registers; returns the status. */
static uint64_t call(microkit_channel ch, uint64_t label, uint64_t a, uint64_t b, int n) {
    microkit_mr_set(0, a);
    microkit_mr_set(1, b);
    microkit_msginfo r = microkit_ppcall(ch, microkit_msginfo_new(label, n));
    return microkit_msginfo_get_label(r);
}

static uint8_t test_byte(uint64_t i, uint64_t len) {
    return (uint8_t)(i * 31) ^ (uint8_t)len;
}

/* Frames a record of len bytes at b: big-endian u16 length, then the
 * bytes, written in place (no copy, no memcpy); the end of the record. */
static uint8_t *stage(uint8_t *b, uint64_t len) {
    b[0] = (uint8_t)(len >> 8);
    b[1] = (uint8_t)len;
    for (uint64_t i = 0; i < len; i++) {
        b[2 + i] = test_byte(i, len);
    }
    return b + 2 + len;
}

/* Both records read back are what was appended (records start at b). */
static int same(const uint8_t *b, uint64_t max) {
    uint64_t lens[2] = {1, max};
    for (int r = 0; r < 2; r++) {
        if (((uint64_t)b[0] << 8 | b[1]) != lens[r]) {
            return 0;
        }
        for (uint64_t i = 0; i < lens[r]; i++) {
            if (b[2 + i] != test_byte(i, lens[r])) {
                return 0;
            }
        }
        b += 2 + lens[r];
    }
    return 1;
}

/* The audit record at b (after its u16 length) is a read_since. */
static int is_read_since(const uint8_t *b, uint64_t bytes) {
    static const char op[] = "\"op\":\"read_since\"";
    uint64_t len = bytes < 2 ? 0 : (uint64_t)b[0] << 8 | b[1];
    for (uint64_t i = 0; len + 2 <= bytes && i + sizeof op - 1 <= len; i++) {
        uint64_t k = 0;
        while (k < sizeof op - 1 && b[2 + i + k] == (uint8_t)op[k]) {
            k++;
        }
        if (k == sizeof op - 1) {
            return 1;
        }
    }
    return 0;
}

/* Sorts the identities by their rights; 0 if one is missing. */
static int identities(void) {
    uintptr_t vaddr[IDENTITIES] = {sfs_buf_0, sfs_buf_1, sfs_buf_2};
    uintptr_t size[IDENTITIES] = {sfs_buf_0_size, sfs_buf_1_size, sfs_buf_2_size};
    int found = 0;
    for (microkit_channel ch = 0; ch < IDENTITIES; ch++) {
        buf[ch] = (uint8_t *)vaddr[ch];
        buf_size[ch] = size[ch];
        if (!vaddr[ch] || call(ch, STATUS, 0, 0, 0) != OK) {
            return 0;
        }
        uint64_t rights = microkit_mr_get(2);
        if (rights & RIGHT_APPEND) {
            writer = ch;
        } else if (rights & RIGHT_READ) {
            reader = ch;
        } else if (rights & RIGHT_AUDIT) {
            auditor = ch;
        }
        found |= (int)rights;
    }
    return (found & ALL) == ALL;
}

void init(void) {
    if (!identities()) {
        say(": FAIL identities: ", "need channels 0-2 with buffers: append, read, audit\n");
        return;
    }
    call(writer, STATUS, 0, 0, 0);
    uint64_t max = microkit_mr_get(4);   /* max_record */
    call(auditor, STATUS, 0, 0, 0);
    uint64_t audited = microkit_mr_get(1);   /* audit ledger size */

    /* A 1-byte record and a max_record one, in one commit. */
    uint8_t *end = stage(stage(buf[writer], 1), max);
    uint64_t st = call(writer, APPEND, 2, (uint64_t)(end - buf[writer]), 2);
    uint64_t first = microkit_mr_get(0);
    report("append-1-byte-and-max-record", st);

    /* The reader gets both back, byte for byte. */
    st = call(reader, READ_SINCE, first, 2, 2);
    if (st == OK && (microkit_mr_get(0) != 2 || !same(buf[reader], max))) {
        st = 1000;
    }
    report("read-back-what-was-appended", st);

    /* The read is in the audit ledger: READ_AUDIT frames audit records
     * as READ_SINCE frames records (u16 length, then one line of JSON). */
    st = call(auditor, READ_AUDIT, audited, 1, 2);
    if (st == OK && (microkit_mr_get(0) != 1 || !is_read_since(buf[auditor], microkit_mr_get(1)))) {
        st = 1000;
    }
    report("reads-are-audited", st);

    /* One byte over max_record is refused, where it can be framed. */
    if (max + 3 <= buf_size[writer] && max < 0xffff) {
        end = stage(buf[writer], max + 1);
        st = call(writer, APPEND, 1, (uint64_t)(end - buf[writer]), 2);
        report("oversize-record-refused", st == RECORD_TOO_LARGE ? OK : 1000 + st);
    }
    microkit_dbg_puts(microkit_name);
    microkit_dbg_puts(": DONE ");
    microkit_dbg_put32(passed);
    microkit_dbg_puts(" passed, ");
    microkit_dbg_put32(failed);
    microkit_dbg_puts(" failed\n");
}

void notified(microkit_channel ch) {
}
