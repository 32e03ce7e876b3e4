#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
done_() { echo "$1"; echo "$1"; sync; poweroff -f; sleep 60; }
fail() { done_ "OVERNIGHT-CHECK FAIL $*"; }
echo "overnight-check: init started"

CMAC=""
for a in $(cat /proc/cmdline); do
  case "$a" in
    overnight.mac=*) CMAC="${a#*=}" ;;
  esac
done

for m in $(cat /modules/order); do insmod "/modules/$m.ko" 2>/dev/null; done

# UEFI: the files arrived as one cpio entry, payload.bin, in manifest order (see standin.ts).
if [ -f /payload.bin ]; then
  [ -f /manifest.txt ] || fail "payload.bin without manifest.txt"
  off=0
  while read kind sum size name; do
    [ "$kind" = file ] || continue
    tail -c +$((off + 1)) /payload.bin | head -c "$size" > "/$name"
    off=$((off + size))
  done < /manifest.txt
  total=$(wc -c < /payload.bin)
  [ "$total" -eq "$off" ] || fail "payload.bin has $total bytes, manifest lists $off"
  rm -f /payload.bin
fi

[ -f /manifest.txt ] || fail "no /manifest.txt"
MMAC=$(sed -n 's/^mac //p' /manifest.txt | tr A-F a-f)
[ -n "$MMAC" ] || fail "manifest has no mac line"

# The NIC's own address: what proves the files were generated for this machine.
NICS=""
for i in 1 2 3 4 5 6 7 8 9 10; do
  for d in /sys/class/net/*; do
    [ "$(basename "$d")" = lo ] && continue
    [ -r "$d/address" ] && NICS="$NICS $(cat "$d/address")"
  done
  [ -n "$NICS" ] && break
  sleep 1
done
[ -n "$NICS" ] || fail "no network interface (driver missing?) manifest-mac=$MMAC"
case " $NICS " in *" $MMAC "*) ;; *) fail "mac mismatch manifest=$MMAC nic=$(echo $NICS)" ;; esac
if [ -n "$CMAC" ]; then
  [ "$(echo "$CMAC" | tr A-F a-f)" = "$MMAC" ] || fail "mac mismatch manifest=$MMAC ipxe=$CMAC"
fi

n=0
while read kind sum size name; do
  [ "$kind" = file ] || continue
  [ -f "/$name" ] || fail "missing $name"
  got=$(wc -c < "/$name")
  [ "$got" -eq "$size" ] || fail "size $name $got != $size"
  h=$(sha256sum "/$name" | cut -d' ' -f1)
  [ "$h" = "$sum" ] || fail "sha256 $name $h != $sum"
  n=$((n + 1))
done < /manifest.txt
done_ "OVERNIGHT-CHECK OK mac=$MMAC files=$n"
