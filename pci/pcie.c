/* The PCI Express capability of a Root Complex Integrated Endpoint. */
#include "pci/pcie.h"

#include "pci/config.h"

/* Device Control bits this model lets the guest set. The error-reporting
 * enables are accepted and kept (an emulated function never signals those
 * errors); Max_Payload_Size is writable but only 128 bytes is supported
 * (DEVCAP says so), as the spec allows software to program. */
#define DEVCTL_WRITABLE                                                                   \
    (PCI_EXP_DEVCTL_ERR_ENABLES | PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_PAYLOAD |     \
     PCI_EXP_DEVCTL_EXT_TAG | PCI_EXP_DEVCTL_NOSNOOP_EN | PCI_EXP_DEVCTL_READRQ)
/* Power-on value (PCIe 4.0 7.5.3.4): relaxed ordering and no-snoop enabled,
 * 512-byte maximum read request, 128-byte payload, reporting off. */
#define DEVCTL_DEFAULT \
    (PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_NOSNOOP_EN | PCI_EXP_DEVCTL_READRQ_512B)

uint8_t pci_pcie_init(PciDevice *pd, GError **errp)
{
    PciConfig *c = &pd->config;
    uint8_t cap = pci_config_add_capability(c, PCI_CAP_ID_EXP, PCI_EXP_CAP_SIZE, errp);
    if (!cap)
        return 0;
    pci_config_set16(c, cap + PCI_EXP_FLAGS,
                     PCI_EXP_FLAGS_VERSION2 | PCI_EXP_TYPE_RC_INTEGRATED << PCI_EXP_TYPE_SHIFT);
    /* 128-byte max payload, no phantom functions, 5-bit tags, no FLR. */
    pci_config_set32(c, cap + PCI_EXP_DEVCAP, PCI_EXP_DEVCAP_RBER);
    pci_config_set_wmask(c, cap + PCI_EXP_DEVCTL, DEVCTL_WRITABLE, 2);
    pci_config_set_w1cmask(c, cap + PCI_EXP_DEVSTA, PCI_EXP_DEVSTA_ERRORS, 2);
    /* Completions never time out in an emulated function; saying so lets
     * the guest leave the timeout alone. */
    pci_config_set32(c, cap + PCI_EXP_DEVCAP2, PCI_EXP_DEVCAP2_COMP_TMOUT_DIS);
    pd->pcie_cap = cap;
    pci_pcie_reset(pd);
    return cap;
}

void pci_pcie_reset(PciDevice *pd)
{
    if (!pd->pcie_cap)
        return;
    pci_config_set16(&pd->config, pd->pcie_cap + PCI_EXP_DEVCTL, DEVCTL_DEFAULT);
    pci_config_set16(&pd->config, pd->pcie_cap + PCI_EXP_DEVSTA, 0);
    pci_config_set16(&pd->config, pd->pcie_cap + PCI_EXP_DEVCTL2, 0);
}
