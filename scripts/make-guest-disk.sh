#!/usr/bin/env bash
# Builds a small disk for a guest, without root: a GPT image with one FAT16
# partition holding the given files at its top (sfdisk, mkfs.fat --offset,
# mtools): the layout axfs, ArceOS's filesystem, looks for first.
#   usage: make-guest-disk.sh OUT.img [--size MIB] [FILE[=NAME]]...
set -euo pipefail
die() { echo "make-guest-disk: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: make-guest-disk.sh OUT.img [--size MIB] [FILE[=NAME]]..."
out=$1; shift
size_mib=8 files=() names=()
while [ $# -gt 0 ]; do
    case $1 in
        --size) [ $# -ge 2 ] || die "--size needs MiB"; size_mib=$2; shift 2 ;;
        *)
            files+=("${1%%=*}")
            if [[ $1 == *=* ]]; then names+=("${1#*=}"); else names+=("$(basename "$1")"); fi
            shift ;;
    esac
done
[[ $size_mib =~ ^[0-9]+$ ]] && [ "$size_mib" -ge 4 ] || die "--size must be at least 4 (MiB)"
for f in "${files[@]}"; do [ -f "$f" ] || die "$f: no such file"; done

mkdir -p "$(dirname "$out")"
rm -f "$out"
truncate -s "${size_mib}M" "$out"
# One "Microsoft basic data" partition from 1 MiB to the end of the GPT.
printf 'label: gpt\nstart=2048, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="guest"\n' \
    | sfdisk --quiet "$out"
sectors=$(sfdisk --dump "$out" | sed -n 's/.*start= *2048, size= *\([0-9]*\).*/\1/p')
[ -n "$sectors" ] || die "sfdisk did not create the partition"
# FAT16 with 1 KiB clusters: some 7,000 clusters in 8 MiB.
mkfs.fat -F 16 -s 2 -n GUEST --offset 2048 "$out" $((sectors / 2)) 2>&1 >/dev/null \
    | { grep -v "block count mismatch" >&2 || true; }
for i in "${!files[@]}"; do mcopy -i "$out@@1M" "${files[$i]}" "::/${names[$i]}"; done
echo "guest disk: $out (${size_mib} MiB): ${names[*]:-no files}"
