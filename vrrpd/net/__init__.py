"""OS adapters: raw VRRP sockets, ARP/NA announcements, netlink, nftables, sysctls, timerfd. Non-blocking, and
unaware of the config: the daemon hands them plain values. Empty on purpose: what it imported, every start-up
would pay."""
