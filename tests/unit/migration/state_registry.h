/* The registry of every state description, for the round-trip and
 * hostile-load tests, and the test descriptions themselves.
 *
 * How devices register: a device's <dev>_state.c defines `const StateDesc
 * <dev>_state` and points its DeviceOps.state at it; one line
 * `{ &<dev>_state, <dev>_state_fixup }` goes into state_descs_all[] in
 * state_registry.c (sorted, next to the test descriptions) and the test links
 * the library that defines it. Once hypervisor/device_types.c (the device type
 * table, DESIGN §2.3 (c)) exists, the table is derived from it instead: every
 * type's ops->state, so a device without state support fails the test. */
#pragma once
#include "migration/state.h"

typedef struct StateRegistryEntry {
    const StateDesc *desc;
    /* Optional: make a randomly filled object satisfy the invariants that
     * bounds cannot express (post_load would refuse it otherwise), and fill
     * CUSTOM fields. */
    void (*fixup)(void *obj, GRand *rand);
} StateRegistryEntry;

/* Terminated by { NULL }. */
extern const StateRegistryEntry state_descs_all[];

/* Fill every described field of obj (desc->size bytes, zeroed) with random
 * values inside their bounds, then run the entry's fixup. */
void state_test_fill(const StateRegistryEntry *e, void *obj, GRand *rand);

/* Recompute the CRC at the end of a section (or stream) buffer after a test
 * changed it, so that the parser itself gets to see the change. */
void state_test_reseal(uint8_t *buf, size_t len);

/* ---- test descriptions --------------------------------------------------- */

typedef enum { TEST_MODE_A, TEST_MODE_B, TEST_MODE_C } TestMode;

typedef struct TestInner {
    uint32_t a;
    uint16_t b;
    uint8_t tag[4];
} TestInner;

typedef struct TestElem {
    uint64_t addr;
    uint16_t size; /* a power of two or 0: post_load checks */
    bool ready;
} TestElem;

#define TEST_ELEMS 4
#define TEST_CBUF 32

typedef struct TestAll {
    uint8_t u8v;
    uint16_t u16v;
    uint32_t u32v;
    uint64_t u64v;
    bool flag;
    int32_t i32v;
    int64_t i64v;
    uint8_t bytes[16];
    uint16_t words[5];
    uint32_t regs[8];
    uint64_t big[3];
    TestMode mode;     /* U32, bounded by TEST_MODE_C */
    uint32_t bounded;  /* <= 100 */
    TestInner inner;
    uint8_t nelems;
    TestElem elems[TEST_ELEMS];
    uint8_t clen; /* custom: the first clen bytes of cbuf */
    uint8_t cbuf[TEST_CBUF];
    bool has_extra; /* subsection "test-all/extra" is sent when set */
    uint64_t extra;
    uint32_t extra_count; /* <= 7, in the subsection */
} TestAll;

extern const StateDesc test_all_state;
extern const StateDesc test_inner_state;
extern const StateDesc test_elem_state;
extern const StateDesc test_all_extra_state;

/* Version evolution: the same description name "evo" at three versions. */
typedef struct EvoV1 {
    uint32_t a;
    uint32_t b;
} EvoV1;

typedef struct EvoV2 {
    uint32_t a;
    uint32_t b;
    uint64_t c; /* added in v2 under tag 3 */
} EvoV2;

extern const StateDesc evo_v1_state;     /* a, b */
extern const StateDesc evo_v2_state;     /* a, b, c OPTIONAL */
extern const StateDesc evo_v2_req_state; /* a, b, c required */
extern const StateDesc evo_v3_state;     /* version 3, min_version 2, a, b, c OPTIONAL */

void test_all_fixup(void *obj, GRand *rand);
