"""``python -m rustorch.distributed.run``: torchrun's launcher for rustorch scripts.

Starts ``--nproc-per-node`` copies of a script on this node with torchrun's environment
(``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``, ``GROUP_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``, ``TORCHELASTIC_RUN_ID``), which
:func:`rustorch.distributed.init_process_group` reads. It watches the children: when one
exits with an error (or is killed), the others are terminated (SIGTERM, then SIGKILL after a
grace period) and the launcher exits with the failed child's code. On SIGINT/SIGTERM it stops
every child. With ``--nnodes N``, run it once per node with ``--node-rank`` and the same
``--master-addr``/``--master-port`` (rank 0's host).

Usage::

    python -m rustorch.distributed.run --nproc-per-node 2 train.py --epochs 3
    python -m rustorch.distributed.run --standalone --nproc-per-node 4 -m mypkg.train
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from typing import Optional, Sequence

_GRACE_SECONDS = 5.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rustorch.distributed.run",
        description="Launch a rustorch script on several processes (torchrun's flags and environment).",
    )

    def flag(*names, **kwargs):
        # torchrun accepts both --nproc-per-node and --nproc_per_node
        spelled = []
        for name in names:
            spelled.append(name)
            if "-" in name[2:]:
                spelled.append("--" + name[2:].replace("-", "_"))
        parser.add_argument(*spelled, **kwargs)

    flag("--nproc-per-node", type=str, default="1",
         help="processes on this node: an int, or 'cpu'/'gpu'/'auto' (default 1)")
    flag("--nnodes", type=str, default="1", help="number of nodes (an int, or MIN:MAX with MIN == MAX)")
    flag("--node-rank", type=int, default=0, help="this node's index in [0, nnodes)")
    flag("--master-addr", type=str, default="127.0.0.1", help="address of the node that runs rank 0")
    flag("--master-port", type=int, default=29500, help="port of rank 0's coordination service")
    flag("--standalone", action="store_true",
         help="single node: 127.0.0.1 and a free port (ignores --master-addr/--master-port)")
    flag("--rdzv-id", "--rdzv_id", dest="rdzv_id", type=str, default=None, help="run id (TORCHELASTIC_RUN_ID)")
    flag("--max-restarts", type=int, default=0, help="only 0 is supported (no elastic restarts)")
    flag("--monitor-interval", type=float, default=0.1, help="seconds between checks of the children")
    parser.add_argument("-m", "--module", action="store_true", help="run the script as a module (python -m)")
    parser.add_argument("--no-python", "--no_python", action="store_true", help="run the script as an executable")
    parser.add_argument("script", help="the training script (or module with -m)")
    parser.add_argument("script_args", nargs=argparse.REMAINDER, help="arguments of the script")
    return parser


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _nproc(value: str) -> int:
    if value in ("cpu", "auto"):
        return os.cpu_count() or 1
    if value == "gpu":
        import glob

        count = len(glob.glob("/dev/nvidia[0-9]*"))
        if not count:
            raise SystemExit("--nproc-per-node gpu: no GPU found")
        return count
    try:
        n = int(value)
    except ValueError:
        raise SystemExit(f"--nproc-per-node must be an int or cpu/gpu/auto, got {value!r}") from None
    if n < 1:
        raise SystemExit(f"--nproc-per-node must be >= 1, got {n}")
    return n


def _nnodes(value: str) -> int:
    low, _, high = value.partition(":")
    if high and high != low:
        raise SystemExit(f"--nnodes {value}: elastic node ranges are not supported; give one number")
    return int(low)


def child_environments(nproc: int, nnodes: int, node_rank: int, master_addr: str, master_port: int,
                       run_id: str, base: Optional[dict] = None) -> list[dict]:
    """torchrun's environment for each local process of this node."""
    base = dict(os.environ if base is None else base)
    world = nproc * nnodes
    envs = []
    for local_rank in range(nproc):
        env = dict(base)
        env.update(
            RANK=str(node_rank * nproc + local_rank),
            LOCAL_RANK=str(local_rank),
            WORLD_SIZE=str(world),
            LOCAL_WORLD_SIZE=str(nproc),
            GROUP_RANK=str(node_rank),
            ROLE_RANK=str(node_rank * nproc + local_rank),
            ROLE_WORLD_SIZE=str(world),
            MASTER_ADDR=master_addr,
            MASTER_PORT=str(master_port),
            TORCHELASTIC_RUN_ID=run_id,
            TORCHELASTIC_RESTART_COUNT="0",
            TORCHELASTIC_MAX_RESTARTS="0",
            PYTHONUNBUFFERED=base.get("PYTHONUNBUFFERED", "1"),
        )
        envs.append(env)
    return envs


def _stop(procs, grace: float = _GRACE_SECONDS) -> None:
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for p in procs:
        while p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


def launch(argv: Optional[Sequence[str]] = None) -> int:
    """Run the launcher with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    args = _parser().parse_args(argv)
    if args.max_restarts != 0:
        raise SystemExit("--max-restarts: elastic restarts are not supported; use 0")
    nproc, nnodes = _nproc(args.nproc_per_node), _nnodes(args.nnodes)
    if not 0 <= args.node_rank < nnodes:
        raise SystemExit(f"--node-rank {args.node_rank} is not in [0, nnodes={nnodes})")
    master_addr, master_port = args.master_addr, args.master_port
    if args.standalone:
        if nnodes != 1:
            raise SystemExit("--standalone runs a single node; drop --nnodes or --standalone")
        master_addr, master_port = "127.0.0.1", _free_port()
    run_id = args.rdzv_id or uuid.uuid4().hex[:12]
    script_args = [a for a in args.script_args]
    if script_args[:1] == ["--"]:
        script_args = script_args[1:]
    if args.no_python:
        command = [args.script] + script_args
    elif args.module:
        command = [sys.executable, "-u", "-m", args.script] + script_args
    else:
        command = [sys.executable, "-u", args.script] + script_args

    procs = []
    stopping = {"signal": None}

    def on_signal(signum, frame):
        stopping["signal"] = signum

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for env in child_environments(nproc, nnodes, args.node_rank, master_addr, master_port, run_id):
            # Each child leads its own process group, so a stop reaches its own children too.
            procs.append(subprocess.Popen(command, env=env, start_new_session=True))
        while True:
            if stopping["signal"] is not None:
                _stop(procs)
                return 128 + stopping["signal"]
            codes = [p.poll() for p in procs]
            failed = [(rank, code) for rank, code in enumerate(codes) if code not in (None, 0)]
            if failed:
                local_rank, code = failed[0]
                rank = args.node_rank * nproc + local_rank
                reason = f"signal {-code}" if code < 0 else f"exit code {code}"
                print(f"rustorch.distributed.run: rank {rank} (local rank {local_rank}, pid {procs[local_rank].pid}) "
                      f"failed with {reason}; stopping the other {nproc - 1} local process(es)",
                      file=sys.stderr, flush=True)
                _stop(procs)
                return code if code > 0 else 128 - code
            if all(code == 0 for code in codes):
                return 0
            time.sleep(args.monitor_interval)
    finally:
        _stop(procs)
        for s, handler in previous.items():
            signal.signal(s, handler)


def main() -> None:
    sys.exit(launch())


if __name__ == "__main__":
    main()
