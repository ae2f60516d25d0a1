#!/usr/bin/env bash
# Builds a boot disk for the hypervisor's filesystem feature, without root:
# a GPT image with one FAT32 partition holding guest images in /guests and
# VM configs in /vms (sfdisk, mkfs.fat --offset, mtools); `--root FILE[=NAME]`
# puts a file at the top of the partition (the hypervisor and U-Boot's
# boot.scr for a firmware boot).
#   usage: make-disk-img.sh OUT.img [--vm CONFIG.toml]... [--root FILE[=NAME]]... [IMAGE]...
set -euo pipefail
die() { echo "make-disk-img: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: make-disk-img.sh OUT.img [--vm CONFIG.toml]... [--root FILE[=NAME]]... [IMAGE]..."
out=$1; shift
vms=() images=() roots=() root_names=()
while [ $# -gt 0 ]; do
    case $1 in
        --vm) [ $# -ge 2 ] || die "--vm needs a config"; vms+=("$2"); shift 2 ;;
        --root)
            [ $# -ge 2 ] || die "--root needs a file"
            roots+=("${2%%=*}")
            if [[ $2 == *=* ]]; then root_names+=("${2#*=}"); else root_names+=("$(basename "$2")"); fi
            shift 2 ;;
        *) images+=("$1"); shift ;;
    esac
done
for f in "${vms[@]}" "${images[@]}" "${roots[@]}"; do [ -f "$f" ] || die "$f: no such file"; done

# 8 KiB clusters: ArceOS's FAT driver walks cluster chains and reads one
# 512-byte block per request, so bigger clusters load a 27 MiB kernel 3x
# faster (measured). FAT32 needs 65525 clusters, hence at least ~530 MiB;
# the image is sparse, so that costs only what the files take.
cluster_sectors=16
bytes=0
for f in "${vms[@]}" "${images[@]}" "${roots[@]}"; do bytes=$((bytes + $(stat -c %s "$f"))); done
size_mib=$(( bytes / 1048576 + 64 ))
[ $size_mib -ge 600 ] || size_mib=600

mkdir -p "$(dirname "$out")"
rm -f "$out"
truncate -s "${size_mib}M" "$out"
# One "Microsoft basic data" partition from 1 MiB to the end.
printf 'label: gpt\nstart=2048, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="axvisor"\n' \
    | sfdisk --quiet "$out"
sectors=$(sfdisk --dump "$out" | sed -n 's/.*start= *2048, size= *\([0-9]*\).*/\1/p')
[ -n "$sectors" ] || die "sfdisk did not create the partition"
mkfs.fat -F 32 -s $cluster_sectors -n AXVISOR --offset 2048 "$out" $((sectors / 2)) 2>&1 >/dev/null \
    | { grep -v "block count mismatch" >&2 || true; }
part="$out@@1M"
mmd -i "$part" ::/guests ::/vms
[ ${#images[@]} -eq 0 ] || mcopy -i "$part" "${images[@]}" ::/guests/
[ ${#vms[@]} -eq 0 ] || mcopy -i "$part" "${vms[@]}" ::/vms/
for i in "${!roots[@]}"; do mcopy -i "$part" "${roots[$i]}" "::/${root_names[$i]}"; done
echo "disk: $out (${size_mib} MiB, sparse): /guests: ${#images[@]} image(s), /vms: ${#vms[@]} config(s)${roots:+, /: ${root_names[*]}}"
