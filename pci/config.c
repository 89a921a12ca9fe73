#include "pci/config.h"

#include "hypervisor/error.h"

#include <string.h>

/* Capabilities are dword aligned and live in the first 256 bytes, so that
 * conventional-PCI software (and the CF8/CFC mechanism) can walk them. */
#define CAP_ALIGN 4u

void pci_config_init(PciConfig *c)
{
    memset(c, 0, sizeof(*c));
    pci_config_set_wmask(c, PCI_COMMAND,
                         PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                             PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE,
                         2);
    pci_config_set_w1cmask(c, PCI_STATUS, PCI_STATUS_W1C, 2);
    /* Scratch registers software programs and reads back; no effect here. */
    pci_config_set_wmask(c, PCI_CACHE_LINE_SIZE, 0xff, 1);
    pci_config_set_wmask(c, PCI_LATENCY_TIMER, 0xff, 1);
    pci_config_set_wmask(c, PCI_INTERRUPT_LINE, 0xff, 1);
    c->cap_next = PCI_CAP_START;
}

uint32_t pci_config_read(const PciConfig *c, uint32_t offset, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++) {
        uint64_t at = (uint64_t)offset + i;
        uint8_t b = at < PCI_CONFIG_SIZE ? c->data[at] : 0xff;
        v |= (uint32_t)b << (8 * i);
    }
    return v;
}

void pci_config_write(PciConfig *c, uint32_t offset, uint32_t value, unsigned size)
{
    for (unsigned i = 0; i < size && i < 4; i++) {
        uint64_t at = (uint64_t)offset + i;
        if (at >= PCI_CONFIG_SIZE)
            break;
        uint8_t b = (uint8_t)(value >> (8 * i));
        uint8_t w = c->wmask[at], w1c = c->w1cmask[at];
        uint8_t d = (uint8_t)((c->data[at] & ~w) | (b & w));
        c->data[at] = (uint8_t)(d & ~(b & w1c));
    }
}

static void check_range(uint32_t offset, unsigned size)
{
    g_assert(size >= 1 && size <= 4 && offset <= PCI_CONFIG_SIZE - size);
}

uint8_t pci_config_get8(const PciConfig *c, uint32_t offset)
{
    check_range(offset, 1);
    return c->data[offset];
}

uint16_t pci_config_get16(const PciConfig *c, uint32_t offset)
{
    check_range(offset, 2);
    return (uint16_t)pci_config_read(c, offset, 2);
}

uint32_t pci_config_get32(const PciConfig *c, uint32_t offset)
{
    check_range(offset, 4);
    return pci_config_read(c, offset, 4);
}

static void store(uint8_t *bytes, uint32_t offset, uint32_t value, unsigned size)
{
    check_range(offset, size);
    for (unsigned i = 0; i < size; i++)
        bytes[offset + i] = (uint8_t)(value >> (8 * i));
}

void pci_config_set8(PciConfig *c, uint32_t offset, uint8_t value)
{
    store(c->data, offset, value, 1);
}

void pci_config_set16(PciConfig *c, uint32_t offset, uint16_t value)
{
    store(c->data, offset, value, 2);
}

void pci_config_set32(PciConfig *c, uint32_t offset, uint32_t value)
{
    store(c->data, offset, value, 4);
}

void pci_config_set_wmask(PciConfig *c, uint32_t offset, uint32_t mask, unsigned size)
{
    store(c->wmask, offset, mask, size);
}

void pci_config_set_w1cmask(PciConfig *c, uint32_t offset, uint32_t mask, unsigned size)
{
    store(c->w1cmask, offset, mask, size);
}

uint8_t pci_config_add_capability(PciConfig *c, uint8_t id, unsigned size, GError **errp)
{
    g_assert(size >= 2);
    uint32_t at = c->cap_next;
    if (at < PCI_CAP_START || at + size > PCI_CONFIG_LEGACY_SIZE) {
        g_set_error(errp, NIMBUS_ERROR, NIMBUS_ERROR_FAILED,
                    "no room for a %u-byte capability 0x%02x in the PCI config space", size, id);
        return 0;
    }
    memset(c->data + at, 0, size);
    c->data[at] = id;
    c->data[at + 1] = 0; /* end of list */
    if (c->cap_last)
        c->data[c->cap_last + 1] = (uint8_t)at;
    else
        c->data[PCI_CAPABILITY_LIST] = (uint8_t)at;
    c->data[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
    c->cap_last = (uint8_t)at;
    /* 0 once the space is used up: the next add then fails. */
    uint32_t next = (at + size + CAP_ALIGN - 1) & ~(CAP_ALIGN - 1);
    c->cap_next = next < PCI_CONFIG_LEGACY_SIZE ? (uint8_t)next : 0;
    return (uint8_t)at;
}

uint8_t pci_config_find_capability(const PciConfig *c, uint8_t id, uint8_t after)
{
    if (!(c->data[PCI_STATUS] & PCI_STATUS_CAP_LIST))
        return 0;
    uint8_t at = after ? c->data[after + 1] : c->data[PCI_CAPABILITY_LIST];
    /* At most 48 dword-aligned capabilities fit in 0x40-0xff; more hops
     * than that means the list loops. */
    for (unsigned hops = 0; hops < 48; hops++) {
        at &= (uint8_t)~(CAP_ALIGN - 1); /* the low bits of pointers are reserved */
        if (at < PCI_CAP_START)
            return 0;
        if (c->data[at] == id)
            return at;
        at = c->data[at + 1];
    }
    return 0;
}
