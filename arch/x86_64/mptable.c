#include "arch/x86_64/mptable.h"

#include "arch/x86_64/layout.h"
#include "hypervisor/error.h"
#include "hypervisor/le.h"

#include <string.h>

/* Entry types and sizes (MP spec 1.4, chapter 4). */
enum { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_IOINTR = 3, MP_LINTR = 4 };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };
#define MP_FLOATING_SIZE 16
#define MP_HEADER_SIZE 44
#define MP_CPU_SIZE 20
#define MP_SHORT_SIZE 8
#define MP_CPU_ENABLED 0x1
#define MP_CPU_BSP 0x2
#define MP_APIC_VERSION 0x14
#define MP_IOAPIC_VERSION 0x11
#define MP_ISA_IRQS 16

typedef struct {
    uint8_t *buf;
    size_t len;
    size_t cap;
} Writer;

static uint8_t *put(Writer *w, size_t n)
{
    g_assert(w->len + n <= w->cap);
    uint8_t *p = w->buf + w->len;
    w->len += n;
    return p;
}

uint8_t mptable_checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += p[i];
    return sum;
}

static void put_intr(Writer *w, uint8_t type, uint8_t irqtype, uint8_t src_irq, uint8_t dst_id,
                     uint8_t dst_pin)
{
    uint8_t *e = put(w, MP_SHORT_SIZE);
    e[0] = type;
    e[1] = irqtype;
    le_store16(e + 2, 0); /* polarity/trigger: conform to the bus (ISA: high, edge) */
    e[4] = 0;       /* source bus: ISA */
    e[5] = src_irq;
    e[6] = dst_id;
    e[7] = dst_pin;
}

GBytes *mptable_build(uint64_t addr, uint32_t n_cpus, GError **errp)
{
    size_t size = MP_FLOATING_SIZE + MP_HEADER_SIZE + n_cpus * MP_CPU_SIZE +
                  (2 + MP_ISA_IRQS + 2) * MP_SHORT_SIZE;
    if (n_cpus == 0 || n_cpus > X86_MAX_VCPUS || size > X86_MPTABLE_MAX) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_INVALID,
                    "the MP table cannot describe %u CPUs (1..%u)", n_cpus, X86_MAX_VCPUS);
        return NULL;
    }
    Writer w = { .buf = g_malloc0(size), .cap = size };
    uint8_t ioapic_id = (uint8_t)n_cpus; /* the first ID after the CPUs' */

    uint8_t *fp = put(&w, MP_FLOATING_SIZE);
    memcpy(fp, "_MP_", 4);
    le_store32(fp + 4, (uint32_t)(addr + MP_FLOATING_SIZE)); /* config table address */
    fp[8] = 1;                                          /* length in 16-byte units */
    fp[9] = 4;                                          /* spec revision 1.4 */

    size_t hdr_off = w.len;
    uint8_t *hdr = put(&w, MP_HEADER_SIZE);
    memcpy(hdr, "PCMP", 4);
    hdr[6] = 4;
    memcpy(hdr + 8, "NIMBUS  ", 8);     /* OEM id */
    memcpy(hdr + 16, "VIRT-X86    ", 12); /* product id */
    le_store32(hdr + 36, (uint32_t)X86_LAPIC_ADDR);

    uint16_t entries = 0;
    for (uint32_t i = 0; i < n_cpus; i++, entries++) {
        uint8_t *c = put(&w, MP_CPU_SIZE);
        c[0] = MP_PROCESSOR;
        c[1] = (uint8_t)i;
        c[2] = MP_APIC_VERSION;
        c[3] = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0);
        le_store32(c + 4, 0x600);      /* CPU signature: family 6 */
        le_store32(c + 8, 0x201);      /* features: FPU, APIC */
    }
    uint8_t *bus = put(&w, MP_SHORT_SIZE);
    bus[0] = MP_BUS;
    bus[1] = 0;
    memcpy(bus + 2, "ISA   ", 6);
    entries++;

    uint8_t *io = put(&w, MP_SHORT_SIZE);
    io[0] = MP_IOAPIC;
    io[1] = ioapic_id;
    io[2] = MP_IOAPIC_VERSION;
    io[3] = 1; /* enabled */
    le_store32(io + 4, (uint32_t)X86_IOAPIC_ADDR);
    entries++;

    /* ISA IRQ n arrives on IOAPIC pin n, as the machine's GSI routing wires
     * it (the in-kernel PIT raises GSI 0, which reaches pin 0). */
    for (uint8_t irq = 0; irq < MP_ISA_IRQS; irq++, entries++)
        put_intr(&w, MP_IOINTR, MP_INT, irq, ioapic_id, irq);
    put_intr(&w, MP_LINTR, MP_EXTINT, 0, 0xff, 0); /* all LAPICs: LINT0 */
    put_intr(&w, MP_LINTR, MP_NMI, 0, 0xff, 1);    /* all LAPICs: LINT1 */
    entries += 2;

    le_store16(hdr + 4, (uint16_t)(w.len - hdr_off)); /* base table length */
    le_store16(hdr + 34, entries);
    hdr[7] = (uint8_t)-mptable_checksum(hdr, w.len - hdr_off);
    fp[10] = (uint8_t)-mptable_checksum(fp, MP_FLOATING_SIZE);
    g_assert(w.len == size);
    return g_bytes_new_take(w.buf, w.len);
}
