/**
 * The guest's /init (busybox sh). Kernel command line words it understands:
 *   nicsim.driver=e1000e[,virtio_net...]|none   drivers to load (default e1000e)
 *   nicsim.if=eth0                               interface to wait for (default eth0)
 *   nicsim.ip=169.254.10.2/16|dhcp|none          address for that interface (dhcp: busybox udhcpc)
 *   nicsim.linkwait=30                           seconds to wait for carrier
 *   nicsim.mtu=9000                              MTU for that interface, set before it goes up
 *   nicsim.intmode=N                             shorthand for e1000e.IntMode=N
 *   <module>.<param>=<value>                     passed to insmod of that module
 * Markers on the console: NICSIM-LINK-UP / NICSIM-LINK-TIMEOUT, NICSIM-RUN-EXIT=<status>.
 */
export const INIT_SCRIPT = `#!/bin/sh
# nicsim guest init
export PATH=/usr/bin:/usr/sbin:/bin:/sbin
export HOME=/root TERM=linux
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /tmp /run /root /var/run
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
exec 0</dev/console 1>/dev/console 2>&1
hostname nicsim-guest

KVER=$(uname -r)
CMDLINE=$(cat /proc/cmdline)
drivers=e1000e
ifname=eth0
ipaddr=
intmode=
linkwait=30
mtu=
for w in $CMDLINE; do
  case "$w" in
    nicsim.driver=*|nicsim.drivers=*) drivers=\${w#*=} ;;
    nicsim.if=*) ifname=\${w#*=} ;;
    nicsim.ip=*) ipaddr=\${w#*=} ;;
    nicsim.intmode=*) intmode=\${w#*=} ;;
    nicsim.linkwait=*) linkwait=\${w#*=} ;;
    nicsim.mtu=*) mtu=\${w#*=} ;;
  esac
done
uptime_s() { cut -d' ' -f1 /proc/uptime; }
ip link set lo up

load_module() {
  ko=$1
  m=\${ko##*/}
  m=\${m%.ko}
  m=$(echo "$m" | tr - _)
  [ -d /sys/module/$m/sections ] && return 0
  args=
  for w in $CMDLINE; do
    case "$w" in
      "$m".*=*) args="$args \${w#$m.}" ;;
    esac
  done
  if [ "$m" = e1000e ] && [ -n "$intmode" ]; then args="$args IntMode=$intmode"; fi
  echo "nicsim-init: insmod $m$args"
  insmod /lib/modules/$KVER/$ko $args || echo "nicsim-init: insmod $ko failed"
}

for d in $(echo "$drivers" | tr , ' '); do
  [ "$d" = none ] && continue
  d=$(echo "$d" | tr - _)
  if [ -f /etc/nicsim/modules.$d ]; then
    for ko in $(cat /etc/nicsim/modules.$d); do load_module "$ko"; done
  else
    echo "nicsim-init: no modules for driver $d"
  fi
done

if [ "$drivers" != none ]; then
  limit=$((linkwait * 10))
  i=0
  while [ ! -e /sys/class/net/$ifname ] && [ $i -lt $limit ]; do sleep 0.1; i=$((i + 1)); done
  up=0
  if [ -e /sys/class/net/$ifname ]; then
    # Before up: on a running interface e1000e resets the NIC for a new MTU and the link renegotiates.
    if [ -n "$mtu" ]; then
      if ip link set "$ifname" mtu "$mtu"; then echo "nicsim-init: $ifname mtu $mtu"; else echo "nicsim-init: setting mtu $mtu on $ifname failed"; fi
    fi
    ip link set "$ifname" up
    while [ $i -lt $limit ]; do
      if [ "$(cat /sys/class/net/$ifname/carrier 2>/dev/null)" = 1 ]; then up=1; break; fi
      sleep 0.1
      i=$((i + 1))
    done
  fi
  if [ $up = 1 ]; then
    echo "nicsim-init: $ifname has carrier at $(uptime_s)s"
    echo NICSIM-LINK-UP
  else
    echo "nicsim-init: no carrier on $ifname at $(uptime_s)s"
    echo NICSIM-LINK-TIMEOUT
  fi
  if [ "$ipaddr" = dhcp ] && [ -e /sys/class/net/$ifname ]; then
    cat > /etc/nicsim/udhcpc.sh <<'EOS'
#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via \${router%% *} dev "$interface"
    : > /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    echo "nicsim-init: dhcp $interface $ip/\${mask:-24} router \${router:-none} dns \${dns:-none} lease \${lease:-?}s"
    ;;
esac
EOS
    chmod +x /etc/nicsim/udhcpc.sh
    udhcpc -i "$ifname" -n -q -t 10 -T 2 -s /etc/nicsim/udhcpc.sh || echo "nicsim-init: dhcp on $ifname failed"
  elif [ -n "$ipaddr" ] && [ "$ipaddr" != none ] && [ -e /sys/class/net/$ifname ]; then
    ip addr add "$ipaddr" dev "$ifname" && echo "nicsim-init: $ifname $ipaddr"
  fi
fi

export NICSIM_IF=$ifname NICSIM_IP=$ipaddr
if [ -f /run.sh ]; then
  cd /
  sh /run.sh
  st=$?
  echo "NICSIM-RUN-EXIT=$st"
else
  echo "nicsim-init: no /run.sh; shell on the console (exit powers off)"
  setsid cttyhack sh -l
fi
sync
poweroff -f
echo o > /proc/sysrq-trigger
sleep 5
`;
