#!/usr/bin/env bash
# Builds osquery-shaped results from the real package databases in
# ../shared/testdata/inventories: no real osquery result log exists there.
# Each row carries the columns osquery's table specs document
# (specs/linux/deb_packages.table, rpm_packages.table; apk_packages: name,
# version, arch, origin, ...). deb rows come from dpkg-query (libdpkg, the
# library osquery's deb_packages reads with); rpm and apk rows from the dumps.
# Usage (from this folder): ./generate.sh ../../../../../shared/testdata/inventories
set -euo pipefail
src=${1:?usage: generate.sh SHARED_INVENTORIES_DIR}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

deb() { # status file -> osqueryi --json array of deb_packages rows
  mkdir -p "$tmp/admin/updates" "$tmp/admin/info"; cp "$1" "$tmp/admin/status"
  dpkg-query --admindir="$tmp/admin" -W \
    -f='${Package}\t${Version}\t${source:Package} (${source:Version})\t${Source}\t${Installed-Size}\t${Architecture}\t${Status}\t${Section}\t${Priority}\n' |
  jq -R -s 'split("\n") | map(select(. != "") | split("\t") |
    {name: .[0], version: .[1],
     source: (if .[3] == "" then "" else .[3] end),
     size: .[4], arch: .[5], revision: (.[1] | if test("-") then sub(".*-"; "") else "" end),
     status: .[6], maintainer: "", section: .[7], priority: .[8], admindir: "/var/lib/dpkg"})'
}
deb "$src/dpkg/debian12-bookworm.status" > deb_packages.debian12-bookworm.json
deb "$src/dpkg/syft.status.d-deinstall" > deb_packages.syft-deinstall.json

# rpm: the go-rpmdb dump fields are epoch¶name¶version¶release¶arch¶sourcerpm¶size¶license¶vendor¶summary¶sigmd5.
jq -R -s '{name: "pack_inventory_rpm_packages", hostIdentifier: "ol9", calendarTime: "Thu Nov 26 09:00:00 2026 UTC",
  unixTime: 1795683600, epoch: 0, counter: 0, numerics: false,
  snapshot: (split("\n") | map(select(. != "") | split("¶") |
    {name: .[1], version: .[2], release: .[3], source: (if .[5] == "(none)" then "" else .[5] end),
     size: .[6], sha1: "", arch: .[4], epoch: (if .[0] == "" then "0" else .[0] end)}))}' \
  "$src/rpm/go-rpmdb.oraclelinux9-plain.rpm-qa-queryformat.txt" > rpm_packages.oraclelinux9.snapshot.json

# apk: P name, V version, A arch, o origin, T description, L license, U url.
awk 'BEGIN{RS=""; FS="\n"} {n=v=a=o=t=l=u=""; for(i=1;i<=NF;i++){k=substr($i,1,2); x=substr($i,3)
  if(k=="P:")n=x; else if(k=="V:")v=x; else if(k=="A:")a=x; else if(k=="o:")o=x; else if(k=="T:")t=x; else if(k=="L:")l=x; else if(k=="U:")u=x}
  printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n, v, a, o, t, l, u}' "$src/apk/syft.multiple-2.lib-apk-db-installed" |
jq -R -s 'split("\n") | map(select(. != "") | split("\t") |
  {name: .[0], version: .[1], description: .[4], arch: .[2], license: .[5], url: .[6], origin: .[3]})' > apk_packages.syft-multiple-2.json
