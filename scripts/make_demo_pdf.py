"""Writes producer/demo/guide.pdf, the small guide `ragq demo` ingests. Run once; the PDF is committed.

Needs fpdf2 (`pip install fpdf2`), which ragq itself does not use.
"""

from pathlib import Path

from fpdf import FPDF

PAGES = {
    "1. Overview": [
        "The Northwind Relay 400 is a branch-office WAN appliance that accelerates and secures traffic between "
        "branch offices and the data center. It ships with four gigabit Ethernet ports: two LAN ports (lan0, lan1) "
        "and two WAN ports (wan0, wan1). The appliance runs RelayOS; this guide describes RelayOS 5.2.",
        "The Relay 400 supports up to 2,000 concurrent optimized TCP connections and 150 Mbps of optimized WAN "
        "throughput. Its solid-state disk holds a 120 GB data store that caches repeated byte patterns so that they "
        "cross the WAN only once.",
        "Power: the appliance draws at most 65 watts and accepts 100-240 V AC. It has one fan; when the fan fails, "
        "the status LED blinks amber and the appliance sends an SNMP trap named fanFailure.",
    ],
    "2. Installation and first boot": [
        "Mount the appliance in a standard 19-inch rack using the supplied brackets. Connect the console cable to "
        "the RJ-45 console port at 115200 baud, 8 data bits, no parity, 1 stop bit.",
        "At first boot the setup wizard asks for a hostname, the management IP address on the primary interface, "
        "the default gateway, a DNS server and the administrator password. The factory default administrator "
        "account is named admin and its default password is relay400; the wizard forces you to change it.",
        "The web management interface listens on HTTPS port 8443. SSH management is enabled by default on port 22 "
        "and can be disabled with the command: no ssh server enable.",
    ],
    "3. Optimization and path selection": [
        "Auto-discovery lets two Relay appliances find each other without configuration: the client-side appliance "
        "adds a probe option to the TCP SYN packet, and the server-side appliance answers it. Auto-discovery works "
        "for IPv4 and, since RelayOS 5.0, for IPv6 single-stack networks.",
        "Path selection chooses the WAN uplink for each traffic class. For example, voice traffic can be pinned to "
        "wan1 while bulk backups use wan0. When the chosen uplink fails, traffic moves to the remaining uplink "
        "within three seconds.",
        "Peering rules decide what the appliance does when it sees a probe from an unknown appliance: accept, pass "
        "through, or reject. The default peering rule is accept.",
    ],
    "4. Maintenance and troubleshooting": [
        "Back up the configuration with the command: configuration write backup-name. Backups are stored on the "
        "appliance and can be copied off with SCP. Software upgrades are installed from the web interface under "
        "Administration > Software; the appliance keeps the previous version in a second partition so that you can "
        "roll back.",
        "The command show connections lists the optimized connections with their client, server and reduction "
        "ratio. The command tcpdump-x captures packets on an interface for up to 60 seconds.",
        "To reset the appliance to factory defaults, hold the recessed reset button for ten seconds while the "
        "appliance is powered on. All configuration and the data store are erased.",
    ],
}


def main() -> None:
    pdf = FPDF(format="A4")
    pdf.set_title("Northwind Relay 400 Administrator's Guide")
    pdf.set_margins(20, 20, 20)
    for heading, paragraphs in PAGES.items():
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(0, 8, "Northwind Relay 400 Administrator's Guide - RelayOS 5.2", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "B", 14)
        pdf.cell(0, 12, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    out = Path(__file__).resolve().parents[1] / "producer" / "demo" / "guide.pdf"
    pdf.output(str(out))
    print(out)


if __name__ == "__main__":
    main()
