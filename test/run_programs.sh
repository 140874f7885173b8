#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test/run_programs.sh - real programs run twice, with glibc's malloc and with
# LD_PRELOAD=libkslub.so, must print the same output and exit the same way;
# the preloaded run must also leave kslub's slabinfo report (which proves
# kslub served it) and say nothing of kslub on stderr.
#
# Environment (make check sets them):
#   KSLUB_SO        the built libkslub.so (default: .libs/libkslub.so here)
#   KSLUB_SRCDIR    the source tree (default: this script's parent folder)
#   KSLUB_BUILDDIR  the build tree, for config.h (default: the current folder)
#
# A program that is not installed is skipped with a SKIP line.  Prints
# "N passed, N failed" last and exits non-zero when anything failed.
set -u

srcdir=${KSLUB_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
builddir=${KSLUB_BUILDDIR:-$PWD}
so=${KSLUB_SO:-$builddir/.libs/libkslub.so}

if [[ ! -f $so ]]; then
	echo "run_programs: $so not found (set KSLUB_SO)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
so=$(cd "$(dirname "$so")" && pwd)/$(basename "$so")

work=$(mktemp -d "${TMPDIR:-/tmp}/kslub-programs.XXXXXX")
[[ -n ${KSLUB_KEEP:-} ]] || trap 'rm -rf "$work"' EXIT

passed=0 failed=0 skipped=0
export LC_ALL=C

# run NAME COMMAND...: both ways, compare stdout and exit status.
run() {
	local name=$1 plain=$work/$name.plain preload=$work/$name.preload
	local slabinfo=$work/$name.slabinfo rc_plain rc_preload ok=1
	shift

	(cd "$work" && "$@") >"$plain.out" 2>"$plain.err"
	rc_plain=$?
	(cd "$work" && env LD_PRELOAD="$so" KSLUB_SLABINFO="$slabinfo" "$@") >"$preload.out" 2>"$preload.err"
	rc_preload=$?

	if [[ $rc_plain != "$rc_preload" ]]; then
		echo "FAIL $name: exit status $rc_plain with glibc malloc, $rc_preload with kslub"
		ok=0
	fi
	if ! cmp -s "$plain.out" "$preload.out"; then
		echo "FAIL $name: output differs ($(wc -c <"$plain.out") bytes with glibc malloc, $(wc -c <"$preload.out") with kslub)"
		diff "$plain.out" "$preload.out" | head -n 10
		ok=0
	fi
	if grep -q 'kslub' "$preload.err"; then
		echo "FAIL $name: kslub reported on stderr:"
		head -n 5 "$preload.err"
		ok=0
	fi
	if [[ ! -s $slabinfo ]] || ! grep -q '^kmalloc-64 ' "$slabinfo"; then
		echo "FAIL $name: no slabinfo report from kslub: was it loaded?"
		ok=0
	fi
	if ((ok)); then
		echo "PASS $name: same output ($(wc -c <"$plain.out") bytes), exit status $rc_plain"
		passed=$((passed + 1))
	else
		sed 's/^/    stderr: /' "$preload.err" | head -n 5
		failed=$((failed + 1))
	fi
}

# have PROGRAM...: true if all are installed, else a SKIP line.
have() {
	local p
	for p; do
		if ! command -v "$p" >/dev/null 2>&1; then
			echo "SKIP ${name:-$1}: $p is not installed"
			skipped=$((skipped + 1))
			return 1
		fi
	done
	return 0
}

echo "run_programs: LD_PRELOAD=$so"

# ---- ls -la /usr/bin ----------------------------------------------------------
name=ls
have ls && run ls ls -la --time-style=+%s /usr/bin

# ---- sort of a generated 200k-line file -----------------------------------------
name=sort
if have sort awk; then
	awk 'BEGIN { srand(42); for (i = 0; i < 200000; i++) printf "%d line %d %s\n", int(rand() * 1e9), i, substr("abcdefghijklmnopqrstuvwxyz", i % 26 + 1) }' \
		>"$work/lines.txt"
	run sort sh -c 'sort -S 64M --parallel=2 lines.txt | md5sum; sort -n -k3 lines.txt | tail -n 3; sort -u -k4,4 lines.txt | wc -l'
fi

# ---- python3: a big dict and list, built by threads ----------------------------
name=python3
# PYTHONMALLOC=malloc sends every object to malloc, not to pymalloc's arenas.
py_threads='
import threading
res = {}
def work(k):
    d = {i: str(i) * (i % 7 + 1) for i in range(150000)}
    l = [(i, str(i), [i] * (i % 5)) for i in range(150000)]
    for i in range(0, 150000, 3):
        del d[i]
    s = "".join(sorted(d[i] for i in range(1, 3000, 3)))
    res[k] = (len(d), sum(len(v) for v in d.values()), len(l), len(s), hash(s) & 0xffff)
ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print(sorted(res.items()))
big = bytearray(50 * 1024 * 1024)
big[-1] = 7
print(len(big), big[-1], sum(big[::4096]))
'
have python3 && run python3 env PYTHONMALLOC=malloc PYTHONHASHSEED=0 python3 -c "$py_threads"

# ---- the same on two NUMA nodes: hwloc's synthetic topology puts CPU 0 on
# node 0 and CPU 1 on node 1, so the threads move between nodes and free each
# other's objects across them; the report must have both nodes.
name=python3-numa
if have python3; then
	run python3-numa env HWLOC_SYNTHETIC="node:2 core:1 pu:1" PYTHONMALLOC=malloc PYTHONHASHSEED=0 \
		python3 -c "$py_threads"
	if ! grep -q '^Node 1, zone' "$work/python3-numa.slabinfo"; then
		echo "FAIL python3-numa: the report has no node 1: kslub did not bring the second node online"
		failed=$((failed + 1)); passed=$((passed - 1))
	fi
fi

# ---- python3 multiprocessing: workers forked from a threaded parent ---------------
name=python3-fork
have python3 && run python3-fork env PYTHONMALLOC=malloc PYTHONHASHSEED=0 python3 -c '
import multiprocessing as mp, threading
def work(n):
    d = {i: [i] * (i % 9) for i in range(n)}
    return sum(len(v) for v in d.values())
keep = []
t = threading.Thread(target=lambda: keep.append([str(i) for i in range(200000)]))
t.start()
ctx = mp.get_context("fork")
with ctx.Pool(3) as pool:
    print(pool.map(work, [50000, 60000, 70000, 80000, 90000, 100000]))
t.join()
print(len(keep[0]))
'

# ---- sqlite3: 100k inserts, an index, queries --------------------------------------
name=sqlite3
have sqlite3 && run sqlite3 sh -c 'rm -f t.db && sqlite3 t.db "
create table t(id integer primary key, k integer, v text);
with recursive c(x) as (select 1 union all select x + 1 from c where x < 100000)
insert into t(k, v) select (x * 7919) % 100003, printf(\"value-%08d\", x) from c;
create index t_k on t(k);
select count(*), sum(k) from t;
select v from t where k between 500 and 520 order by k;
select k % 10, count(*), max(length(v)) from t group by k % 10;
"'

# ---- the stress program through malloc ----------------------------------------------
name=stress
if [[ -x $builddir/test/stress ]]; then
	run stress "$builddir/test/stress" libc 4 20000
	# 400 MB of address space: too little to spare the slot map's 64 MiB,
	# so kfree finds every cache by the struct page
	run stress-ulimit sh -c 'ulimit -v 400000 && exec "$0" libc 4 20000' "$builddir/test/stress"
	# threads on two nodes, moving between them, freeing across them
	name=stress-numa
	run stress-numa env HWLOC_SYNTHETIC="node:2 core:1 pu:1" "$builddir/test/stress" libc 4 20000
	if ! grep -q '^Node 1, zone' "$work/stress-numa.slabinfo"; then
		echo "FAIL stress-numa: the report has no node 1"
		failed=$((failed + 1)); passed=$((passed - 1))
	fi
else
	echo "SKIP stress: $builddir/test/stress is not built"
	skipped=$((skipped + 1))
fi

# ---- gcc -O2 -c of one of kslub's own files -------------------------------------
name=gcc
if have gcc cmp; then
	if [[ -f $builddir/config.h ]]; then
		run gcc sh -c 'gcc -O2 -std=gnu11 -D_GNU_SOURCE -include "$0/config.h" -I"$1/include" -I"$1/core" \
			-I"$1/topology" -c "$1/core/kmalloc.c" -o kmalloc.o && od -An -tx1 kmalloc.o | md5sum' \
			"$builddir" "$srcdir"
	else
		echo "SKIP gcc: no config.h in $builddir (set KSLUB_BUILDDIR)"
		skipped=$((skipped + 1))
	fi
fi

# ---- xz round trip of a generated file ------------------------------------------
name=xz
if have xz awk; then
	awk 'BEGIN { srand(7); for (i = 0; i < 300000; i++) printf "%d %x %s\n", i, int(rand() * 4294967295), (i % 3 ? "kslub" : "slab") }' \
		>"$work/data.txt"
	run xz sh -c 'xz -6 -T2 -c data.txt >data.xz && md5sum <data.xz && xz -d -c data.xz | md5sum && md5sum <data.txt'
fi

# ---- perl with hashes -----------------------------------------------------------
name=perl
have perl && run perl perl -e '
my %h;
for my $i (0 .. 300000) { $h{"key$i"} = [$i, "v" x ($i % 13)]; }
delete $h{"key$_"} for grep { $_ % 4 == 0 } 0 .. 300000;
my $sum = 0; $sum += $h{$_}[0] for keys %h;
my %inv = map { ($h{$_}[0] => $_) } grep { /7$/ } keys %h;
print scalar(keys %h), " $sum ", scalar(keys %inv), "\n";
print join(",", (sort { $a <=> $b } keys %inv)[0 .. 9]), "\n";
'

# ---- git, if installed ------------------------------------------------------------
name=git
if command -v git >/dev/null 2>&1; then
	run git sh -c '
		export GIT_AUTHOR_NAME=k GIT_AUTHOR_EMAIL=k@example.org GIT_COMMITTER_NAME=k GIT_COMMITTER_EMAIL=k@example.org
		export GIT_AUTHOR_DATE="2024-01-01T00:00:00Z" GIT_COMMITTER_DATE="2024-01-01T00:00:00Z"
		export GIT_CONFIG_NOSYSTEM=1 HOME=$PWD
		rm -rf repo && git init -q -b main repo && cd repo &&
		for i in 1 2 3 4 5; do seq $((i * 1000)) >"f$i"; git add "f$i"; git commit -q -m "c$i"; done &&
		git log --stat --format="%H %s" && git gc -q && git count-objects -v | grep -v size && git fsck --no-progress && echo ok'
else
	echo "SKIP git: git is not installed"
	skipped=$((skipped + 1))
fi

# ---- a C++ program: new/delete, and std::bad_alloc thrown through kslub ----------
name=c++
if have g++; then
	cat >"$work/cxx.cc" <<'EOF'
#include <cstdio>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>
struct alignas(256) Wide { char c[256]; };
int main()
{
	std::map<std::string, std::vector<int>> m;
	for (int i = 0; i < 100000; i++)
		m[std::to_string(i * 7919 % 100003)].push_back(i);
	std::vector<std::thread> threads;
	std::vector<size_t> sums(4);
	for (int t = 0; t < 4; t++)
		threads.emplace_back([t, &sums] {
			std::map<int, std::string> local;
			for (int i = 0; i < 50000; i++)
				local[i * (t + 1)] = std::string(i % 50, 'a' + t);
			for (auto &kv : local)
				sums[t] += kv.second.size();
		});
	for (auto &th : threads)
		th.join();
	std::printf("%zu %zu %zu %zu\n", sums[0], sums[1], sums[2], sums[3]);
	std::unique_ptr<Wide[]> w(new Wide[100]);
	std::printf("%zu %d %d\n", m.size(), m.begin()->second[0],
		    (int)(reinterpret_cast<unsigned long>(w.get()) % 256));
	try {
		volatile size_t n = (size_t)1 << 62;
		char *p = new char[n];
		std::printf("no exception %p\n", (void *)p);
	} catch (const std::bad_alloc &e) {
		std::printf("caught std::bad_alloc\n");
	}
	char *q = new (std::nothrow) char[(size_t)1 << 62];
	std::printf("nothrow: %s\n", q ? "pointer" : "null");
	return 0;
}
EOF
	if g++ -O2 -pthread -o "$work/cxx" "$work/cxx.cc" 2>"$work/cxx.build"; then
		run c++ ./cxx
		grep -q 'caught std::bad_alloc' "$work/c++.preload.out" ||
			{ echo "FAIL c++: operator new did not throw std::bad_alloc"; failed=$((failed + 1)); passed=$((passed - 1)); }
	else
		echo "SKIP c++: g++ cannot build a test program"
		skipped=$((skipped + 1))
	fi
fi

# ---- node: a Map of objects, Buffers, zlib and two worker threads -------------------
name=node
if have node; then
	cat >"$work/slabs.js" <<'EOF'
const { Worker, isMainThread, parentPort, workerData } = require("worker_threads");
const zlib = require("zlib");
function work(seed) {
	const m = new Map();
	for (let i = 0; i < 100000; i++)
		m.set("k" + ((i * 7919 + seed) % 100003), { i, a: [i, i + 1], s: "x".repeat(i % 97) });
	let t = 0;
	for (const [, v] of m)
		t += v.s.length + v.a[1];
	const bufs = [];
	for (let i = 0; i < 200; i++)
		bufs.push(Buffer.alloc(1024 * ((i % 64) + 1), i & 0xff));
	const z = zlib.gzipSync(Buffer.concat(bufs), { level: 6 });
	return [m.size, t, zlib.gunzipSync(z).length];
}
if (isMainThread) {
	const workers = [1, 2].map((seed) => new Promise((resolve, reject) => {
		const w = new Worker(__filename, { workerData: seed });
		w.on("message", resolve);
		w.on("error", reject);
	}));
	Promise.all(workers).then((r) => console.log(JSON.stringify([work(0), ...r])));
} else {
	parentPort.postMessage(work(workerData));
}
EOF
	run node node slabs.js
fi

# ---- Java: javac compiles a program, the JVM runs it with four threads -----------
name=java
if have javac java; then
	cat >"$work/Slabs.java" <<'EOF'
import java.util.*;
public class Slabs {
	public static void main(String[] args) throws Exception {
		Map<String, List<Integer>> m = new HashMap<>();
		for (int i = 0; i < 200000; i++)
			m.computeIfAbsent("k" + (i % 5000), k -> new ArrayList<>()).add(i);
		long s = 0;
		for (List<Integer> l : m.values())
			for (int x : l)
				s += x;
		long[] lens = new long[4];
		Thread[] t = new Thread[4];
		for (int i = 0; i < 4; i++) {
			final int k = i;
			t[i] = new Thread(() -> {
				StringBuilder sb = new StringBuilder();
				for (int j = 0; j < 100000; j++)
					sb.append(j * (k + 1));
				lens[k] = sb.length();
			});
			t[i].start();
		}
		for (Thread x : t)
			x.join();
		System.out.println(s + " " + m.size() + " " + Arrays.toString(lens));
	}
}
EOF
	run java sh -c 'javac -J-Xmx256m -d . Slabs.java && java -Xmx256m -cp . Slabs'
fi

# ---- the kslub command ------------------------------------------------------------
name=kslub-run
ksi=$work/kslub-run.slabinfo
if KSLUB_LIB=$so "$srcdir/scripts/kslub" run --slabinfo "$ksi" --min-order 1 -- \
	sh -c 'printf "%s\n" "$KSLUB_MIN_ORDER" && ls / >/dev/null' >"$work/kslub-run.out" 2>&1 &&
	[[ $(cat "$work/kslub-run.out") == 1 ]] && grep -q '^kmalloc-64 ' "$ksi" &&
	! KSLUB_LIB=$so "$srcdir/scripts/kslub" run --set NOT_KSLUB=1 -- true 2>/dev/null; then
	echo "PASS kslub-run: the program ran with the library and the tunable, and wrote its report"
	passed=$((passed + 1))
else
	echo "FAIL kslub-run: kslub run did not run the program with the library and its options"
	cat "$work/kslub-run.out"
	failed=$((failed + 1))
fi

echo
if ((skipped)); then
	echo "run_programs: $skipped skipped"
fi
echo "$passed passed, $failed failed"
((failed == 0))
