#!/usr/bin/env python3
"""Build a sharded gpuinfer retrieval index with Ray Data.

    .venv/bin/python scripts/ray_index.py MODEL DIR --output DB [--shards N] [--actors A]
        [--batch B] [--devices 0,1,...] [--gpuinfer PATH] [--file-list FILE] [--ray-address ADDR]

The driver lists DIR (or reads --file-list) only to choose the number of shards N; the shards
themselves are cut by gpuinfer (whole batches of the sorted file list). Each Ray actor of a pool
of A starts ONE long-lived `gpuinfer index ... --serve-shards --device D` subprocess (actor k
gets devices[k % len(devices)]), keeps the model loaded, and builds the shards Ray hands it: it
writes `I/N` on the subprocess's stdin and reads the JSON answer line.

Failures: an "error" answer raises ShardError, which Ray Data retries (actor_task_retry_on_errors);
a subprocess that dies (a crash) takes its actor down with it, and Ray restarts the actor (a fresh
subprocess) and retries its shard (max_restarts / max_task_retries). Redoing a shard is always
safe: a shard is written under a hidden .s-NNNNN.partial folder (resumable), renamed when complete
and immutable after, and the top-level manifest lists it once; redoing a finished shard answers
already_complete. At the end the driver checks that DB/manifest.json lists the N shards once
each; `gpuinfer merge DB --output OUT` then compacts them into a format-1 index.

Test hook: --fail-first (or GPUINFER_RAY_FAIL_FIRST=1) makes the first actor kill its subprocess
(SIGKILL) during its first shard, once per run, to simulate a crash.
"""

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGE_EXTENSIONS = {"jpg", "jpeg", "jpe", "png"}
SHARDS_PER_ACTOR = 4


def fail(message):
    print(f"ray_index: error: {message}", file=sys.stderr)
    sys.exit(1)


# MARK: - Driver-side helpers


def supports_serve_shards(binary):
    try:
        out = subprocess.run([binary, "index", "--help"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--serve-shards" in out.stdout + out.stderr


def find_gpuinfer(explicit):
    """The gpuinfer binary: --gpuinfer, else .build/release, .build/debug, then PATH; it must
    know --serve-shards (a stale build that does not is skipped with a note)."""
    if explicit:
        path = explicit if os.sep in explicit else (shutil.which(explicit) or explicit)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            fail(f"--gpuinfer {explicit}: no such executable")
        if not supports_serve_shards(path):
            fail(f"--gpuinfer {path} does not support `index --serve-shards` (stale build? run `swift build`)")
        return os.path.abspath(path)
    candidates = [str(REPO / ".build/release/gpuinfer"), str(REPO / ".build/debug/gpuinfer")]
    on_path = shutil.which("gpuinfer")
    if on_path:
        candidates.append(on_path)
    found = [c for c in candidates if os.path.isfile(c) and os.access(c, os.X_OK)]
    if not found:
        fail("no gpuinfer binary: build it (`swift build`), put it on PATH or pass --gpuinfer PATH")
    for candidate in found:
        if supports_serve_shards(candidate):
            return os.path.abspath(candidate)
        print(f"ray_index: note: skipping {candidate} (no `index --serve-shards`: stale build?)", file=sys.stderr)
    fail("no gpuinfer binary with `index --serve-shards` found (rebuild with `swift build`)")


def has_image_signature(path):
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return head.startswith(b"\xff\xd8\xff") or head.startswith(b"\x89PNG\r\n\x1a\n")


def count_images(root, excluded):
    """How many candidate images gpuinfer sees under root (same rules as FolderIndexer.listFiles:
    hidden names and the output folder skipped; jpg/jpeg/jpe/png extension or a JPEG/PNG signature)."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and os.path.realpath(os.path.join(dirpath, d)) != excluded)
        for name in filenames:
            if name.startswith("."):
                continue
            full = os.path.join(dirpath, name)
            ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
            if ext in IMAGE_EXTENSIONS or has_image_signature(full):
                count += 1
    return count


def count_file_list(path):
    with open(path, encoding="utf-8") as f:
        lines = {line.strip() for line in f}
    return len({line for line in lines if line and not line.startswith("#")})


def read_manifest(db):
    try:
        with open(os.path.join(db, "manifest.json"), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        fail(f"cannot read {db}/manifest.json: {e}")


def format_duration(seconds):
    if seconds is None or not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # exit status 1 (not argparse's 2), like every other failure here
        self.print_usage(sys.stderr)
        fail(message)


def parse_args(argv):
    p = ArgumentParser(description="Build a sharded gpuinfer retrieval index with a Ray Data actor pool.")
    p.add_argument("model", help="zoo name or .onnx path of the image model")
    p.add_argument("dir", help="folder of images")
    p.add_argument("--output", "-o", required=True, help="sharded index folder (DB)")
    p.add_argument("--shards", type=int, help=f"number of shards N (default: {SHARDS_PER_ACTOR} per actor, "
                                              "at most one per batch; an existing DB keeps its own)")
    p.add_argument("--actors", type=int, default=1, help="actors, each with one gpuinfer subprocess (default 1)")
    p.add_argument("--batch", type=int, default=8, help="images per inference (default 8, as gpuinfer index)")
    p.add_argument("--devices", default="0", help="comma-separated gpuinfer --device values; actor k gets "
                                                  "devices[k %% len] (default 0)")
    p.add_argument("--gpuinfer", help="gpuinfer binary (default: .build/release, .build/debug, then PATH)")
    p.add_argument("--file-list", help="index the files listed in FILE (paths relative to DIR) instead of DIR's images")
    p.add_argument("--ray-address", help="connect to this Ray cluster instead of starting Ray locally")
    p.add_argument("--actor-cpus", type=float, default=0.5, help="logical CPUs Ray reserves per actor (default 0.5)")
    p.add_argument("--retries", type=int, default=3, help="actor restarts and shard retries allowed (default 3)")
    p.add_argument("--fail-first", action="store_true", default=os.environ.get("GPUINFER_RAY_FAIL_FIRST") == "1",
                   help="test hook: the first actor kills its subprocess during its first shard (once)")
    p.add_argument("--verbose", action="store_true", help="keep Ray's own logs and progress bars")
    args = p.parse_args(argv)
    if args.actors < 1:
        p.error("--actors must be at least 1")
    if args.batch < 1:
        p.error("--batch must be at least 1")
    if args.shards is not None and args.shards < 1:
        p.error("--shards must be at least 1")
    if args.actor_cpus <= 0:
        p.error("--actor-cpus must be positive")
    if args.retries < 0:
        p.error("--retries must be at least 0")
    args.device_list = [d.strip() for d in args.devices.split(",")]
    if not args.device_list or any(not d for d in args.device_list):
        p.error(f"--devices {args.devices!r}: expected a comma-separated list such as 0,1")
    return args


# MARK: - Worker side (runs inside Ray actors)


class ShardError(RuntimeError):
    """gpuinfer answered {"error": ...} for a shard (retried by Ray Data)."""


class ServerFailed(RuntimeError):
    """The gpuinfer server exited by itself with an error (bad model, bad folder): not retried."""


def make_coordinator_class(ray):
    @ray.remote(num_cpus=0)
    class Coordinator:
        """Gives each actor a stable slot (by actor id, so a restarted actor keeps its device) and
        hands out the one crash token of --fail-first."""

        def __init__(self, fail_first):
            self.slots = {}
            self.crash_token = fail_first

        def slot(self, actor_id):
            return self.slots.setdefault(actor_id, len(self.slots))

        def take_crash_token(self):
            token, self.crash_token = self.crash_token, False
            return token

    return Coordinator


class ShardBuilder:
    """A Ray Data callable class: one long-lived `gpuinfer index --serve-shards` per actor."""

    def __init__(self, command, devices, shard_count, cwd, env, coordinator):
        import ray

        self.shard_count = shard_count
        self.coordinator = coordinator
        self.actor_id = ray.get_runtime_context().get_actor_id() or str(os.getpid())
        self.slot = ray.get(coordinator.slot.remote(self.actor_id))
        self.device = devices[self.slot % len(devices)]
        self.stderr = tempfile.TemporaryFile(mode="w+b")
        self.proc = subprocess.Popen(command + ["--device", self.device], cwd=cwd, env={**os.environ, **env},
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True, bufsize=1)
        self.lock = threading.Lock()

    def stderr_tail(self, limit=2000):
        self.stderr.flush()
        self.stderr.seek(0)
        text = self.stderr.read().decode("utf-8", "replace")
        return text[-limit:].strip()

    def _crash(self, shard):
        # Kill our own server a moment after it started the shard (like a segfault or an OOM kill);
        # whatever it managed to write is ignored, so this shard is always redone.
        time.sleep(0.05)
        print(f"ray_index: --fail-first: killing the gpuinfer server of actor {self.slot} during shard {shard}",
              file=sys.stderr, flush=True)
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def build(self, index):
        shard = f"{index}/{self.shard_count}"
        answer = None
        try:
            self.proc.stdin.write(shard + "\n")
            self.proc.stdin.flush()
            if self.slot == 0 and self.coordinator is not None:
                import ray
                if ray.get(self.coordinator.take_crash_token.remote()):
                    self._crash(shard)
            while answer is None and self.proc.poll() is None:
                line = self.proc.stdout.readline()
                if not line:
                    break
                line = line.strip()
                if line.startswith("{"):
                    answer = json.loads(line)
        except (BrokenPipeError, OSError, ValueError):
            answer = None
        if answer is None:
            code = self.proc.wait()
            if code is not None and code > 0:
                # The server refused to run (bad model, bad folder...): retrying will not help.
                raise ServerFailed(f"gpuinfer (device {self.device}) exited with status {code} on shard {shard}: "
                                   f"{self.stderr_tail()}")
            # Killed by a signal (a crash): take the actor down so Ray restarts it with a fresh server
            # and retries the shard on it; the shard's partial folder is resumed.
            print(f"ray_index: gpuinfer (device {self.device}) died ({code}) on shard {shard}; "
                  f"restarting actor {self.slot}. {self.stderr_tail(500)}", file=sys.stderr, flush=True)
            sys.stderr.flush()
            os._exit(1)
        if "error" in answer:
            raise ShardError(f"shard {shard} (device {self.device}): {answer['error']}")
        return answer

    def __call__(self, batch):
        import numpy as np

        out = {k: [] for k in ("shard", "index", "rows", "files", "already_complete", "images_per_s", "seconds",
                               "skipped", "skipped_json", "device", "actor")}
        with self.lock:
            for index in batch["shard"]:
                a = self.build(int(index))
                out["shard"].append(a.get("shard", f"{index}/{self.shard_count}"))
                out["index"].append(int(index))
                out["rows"].append(int(a.get("rows", 0)))
                out["files"].append(int(a.get("files", 0)))
                out["already_complete"].append(bool(a.get("already_complete", False)))
                out["images_per_s"].append(float(a.get("images_per_s") or 0.0))
                out["seconds"].append(float(a.get("seconds") or 0.0))
                skipped = a.get("skipped") or []
                out["skipped"].append(len(skipped))
                out["skipped_json"].append(json.dumps(skipped))
                out["device"].append(str(self.device))
                out["actor"].append(self.slot)
        return {k: np.array(v) for k, v in out.items()}

    def __del__(self):
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            try:
                proc.stdin.close()
                proc.wait(timeout=10)
            except Exception:
                proc.kill()


# MARK: - Driver


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    binary = find_gpuinfer(args.gpuinfer)

    root = os.path.abspath(args.dir)
    if not os.path.isdir(root):
        fail(f"{args.dir}: no such folder")
    model = os.path.abspath(args.model) if os.path.exists(args.model) else args.model
    if model.endswith(".onnx") and not os.path.isfile(model):
        fail(f"{args.model}: no such model file")
    db = os.path.abspath(args.output)
    if os.path.exists(db) and not os.path.isdir(db):
        fail(f"--output {args.output}: exists and is not a folder")
    file_list = None
    if args.file_list:
        file_list = os.path.abspath(args.file_list)
        if not os.path.isfile(file_list):
            fail(f"--file-list {args.file_list}: no such file")
        files = count_file_list(file_list)
    else:
        files = count_images(root, os.path.realpath(db))
    if files == 0:
        fail(f"no images to index in {args.dir}" + (f" (--file-list {args.file_list})" if file_list else ""))
    batches = math.ceil(files / args.batch)

    existing = read_manifest(db)
    if existing is not None and existing.get("version") != 2:
        fail(f"{args.output} already holds an unsharded index (manifest version {existing.get('version')}); "
             "choose another --output")
    if existing is not None and existing.get("batch") not in (None, args.batch):
        fail(f"{args.output} was started with --batch {existing.get('batch')}, not {args.batch}")
    if args.shards is not None:
        shards = args.shards
        if existing is not None and existing.get("shardCount") not in (None, shards):
            fail(f"{args.output} was started with {existing.get('shardCount')} shards, not --shards {shards}")
        if shards > batches:
            fail(f"--shards {shards} is more than the {batches} batches of {args.batch} in {files} files "
                 "(a shard is whole batches)")
    elif existing is not None and existing.get("shardCount"):
        shards = int(existing["shardCount"])
    else:
        shards = max(1, min(batches, SHARDS_PER_ACTOR * args.actors))

    command = [binary, "index", model, root, "--output", db, "--batch", str(args.batch), "--serve-shards", "--quiet"]
    if file_list:
        command += ["--file-list", file_list]
    env = {k: v for k, v in os.environ.items() if k.startswith("GPUINFER_") and k != "GPUINFER_RAY_FAIL_FIRST"}

    print(f"ray_index: {files} files, batch {args.batch} -> {shards} shards on {args.actors} actor(s), "
          f"devices {','.join(args.device_list)}; {binary}", file=sys.stderr, flush=True)

    import ray
    import ray.data

    started = time.monotonic()
    if args.ray_address:
        ray.init(address=args.ray_address, logging_level="WARNING" if not args.verbose else "INFO",
                 log_to_driver=True)
    else:
        needed = args.actors * args.actor_cpus + 1
        ray.init(num_cpus=max(os.cpu_count() or 1, math.ceil(needed)), include_dashboard=False,
                 object_store_memory=256 * 1024 * 1024, logging_level="WARNING" if not args.verbose else "INFO",
                 log_to_driver=True)
    ray_started = time.monotonic() - started
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = args.verbose
        ctx.actor_task_retry_on_errors = [ShardError]
        if not args.verbose:
            ctx.print_on_execution_start = False
        coordinator = make_coordinator_class(ray).remote(args.fail_first)

        ds = ray.data.from_items([{"shard": i} for i in range(shards)], override_num_blocks=shards)
        with warnings.catch_warnings():
            # Ray 2.60 has no named parameter for max_restarts / max_task_retries yet (its default
            # is to restart and retry forever, which would loop on a server that always crashes).
            warnings.simplefilter("ignore", DeprecationWarning)
            ds = ds.map_batches(
                ShardBuilder,
                fn_constructor_kwargs=dict(command=command, devices=args.device_list, shard_count=shards,
                                           cwd=os.getcwd(), env=env, coordinator=coordinator),
                batch_size=1,
                batch_format="numpy",
                # One shard at a time per actor, so a slow actor does not hold queued shards.
                compute=ray.data.ActorPoolStrategy(size=args.actors, max_tasks_in_flight_per_actor=1),
                num_cpus=args.actor_cpus,
                max_restarts=args.retries,
                max_task_retries=args.retries,
            )

        done = rows = embedded = complete = skipped = 0
        shard_seconds = 0.0
        tty = sys.stderr.isatty()
        first_result = None
        seen = {}
        rows_iter = iter(ds.iter_rows())
        while True:
            try:
                row = next(rows_iter)
            except StopIteration:
                break
            except Exception as e:  # a shard failed for good (after Ray's retries)
                text = str(e)
                for marker in ("ServerFailed: ", "ShardError: "):
                    if marker in text:
                        text = text[text.rindex(marker) + len(marker):].split("\n\n")[0]
                        break
                fail(f"indexing failed: {text.strip()[-3000:]}\n"
                     f"(finished shards are kept; rerun the same command to continue)")
            now = time.monotonic()
            first_result = first_result or now
            index = int(row["index"])
            seen[index] = seen.get(index, 0) + 1
            done += 1
            rows += int(row["rows"])
            shard_seconds += float(row["seconds"])
            skipped += int(row["skipped"])
            if row["already_complete"]:
                complete += 1
            else:
                embedded += int(row["files"])
            elapsed = now - started
            rate = embedded / elapsed if elapsed > 0 else 0.0
            left = shards - done
            eta = (elapsed / max(done - complete, 1)) * left if left else 0.0
            line = (f"shards {done}/{shards}  rows {rows}  {rate:.1f} images/s  "
                    f"elapsed {format_duration(elapsed)}  ETA {format_duration(eta)}  "
                    f"(last {row['shard']} on device {row['device']}{', already complete' if row['already_complete'] else ''})")
            if tty:
                print("\r\033[K" + line, end="", file=sys.stderr, flush=True)
            else:
                print(line, file=sys.stderr, flush=True)
        if tty:
            print(file=sys.stderr)
    finally:
        ray.shutdown()

    elapsed = time.monotonic() - started
    manifest = read_manifest(db) or {}
    listed = [s.get("shard") for s in manifest.get("shards", [])]
    problems = []
    if manifest.get("shardCount") != shards:
        problems.append(f"manifest shardCount {manifest.get('shardCount')} != {shards}")
    if sorted(listed) != list(range(shards)):
        problems.append(f"manifest lists shards {sorted(listed)}, expected each of 0..{shards - 1} once")
    if sorted(seen) != list(range(shards)):
        problems.append(f"results for shards {sorted(seen)}, expected 0..{shards - 1}")
    manifest_rows = sum(int(s.get("rows", 0)) for s in manifest.get("shards", []))
    print(f"ray_index: done: {shards} shards ({complete} already complete), {manifest_rows} rows, "
          f"{skipped} skipped, {embedded} files embedded in {elapsed:.1f}s "
          f"({embedded / elapsed if elapsed > 0 else 0:.1f} images/s overall; Ray start-up {ray_started:.1f}s, "
          f"{shard_seconds:.1f}s in gpuinfer over all shards); index {db}", file=sys.stderr)
    if problems:
        fail("; ".join(problems))
    print(f"ray_index: merge with: gpuinfer merge {db} --output OUT", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
