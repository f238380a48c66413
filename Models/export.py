#!/usr/bin/env python3
"""Exports any zoo model by its name into Models/generated/NAME.onnx, dispatching to its family's
exporter (the script and arguments below). Real weights fetched by scripts/setup.sh are used by
default where the zoo has them (ssdlite_person, mobilenetv2_gap); `--weights FILE` gives others
(a checkpoint, npz, frozen graph or state_dict, as the family's exporter documents in
Models/README.md). Models without public weights here get seeded random weights and say so.

usage: export.py NAME [--weights FILE] [--out PATH]      export.py --list
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
#: zoo name -> (exporter arguments, the option that takes --weights, whether real weights are the default)
ZOO = {
    "netvlad": (["netvlad.py"], "--weights", False),
    "mpncov_resnet50": (["mpncov.py", "--arch", "mpncov_resnet50"], "--weights", False),
    "mpncov_resnet101": (["mpncov.py", "--arch", "mpncov_resnet101"], "--weights", False),
    "mpncov_vggd": (["mpncov.py", "--arch", "mpncov_vggd"], "--weights", False),
    "gldv2_res152": (["gldv2.py", "--model", "gldv2_res152"], "--weights", False),
    "gldv2_res200": (["gldv2.py", "--model", "gldv2_res200"], "--weights", False),
    "gldv2_se_x152": (["gldv2.py", "--model", "gldv2_se_x152"], "--weights", False),
    "gldv2_inceptionv4": (["gldv2.py", "--model", "gldv2_inceptionv4"], "--weights", False),
    "ssdlite_mobilenet_v2": (["ssdlite.py"], "--weights", False),
    "ssdlite_person": (["ssdlite.py", "--person"], "--frozen-graph", True),
    "mobilenetv2_gap": (["mobilenet_v2.py", "--head", "gap", "--real-weights"], "--weights", True),
    "mobilenet_v2": (["mobilenet_v2.py"], None, False),
    "resnet18_gem": (["vpr.py", "resnet18_gem"], "--weights", False),
    "resnet18_netvlad": (["vpr.py", "resnet18_netvlad"], "--weights", False),
    "vgg16_gem": (["vpr.py", "vgg16_gem"], "--weights", False),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", nargs="?")
    ap.add_argument("--weights", help="weights for the family's exporter (see Models/README.md)")
    ap.add_argument("--out", help="default Models/generated/NAME.onnx")
    ap.add_argument("--list", action="store_true", help="the zoo names and their exporters")
    a = ap.parse_args()
    if a.list or not a.name:
        for name, (args, _, real) in ZOO.items():
            print(f"{name:22s} Models/{' '.join(args)}{'   (real weights)' if real else ''}")
        return 0 if a.list else 2
    if a.name not in ZOO:
        print(f"error: unknown zoo model '{a.name}' (known: {', '.join(ZOO)})", file=sys.stderr)
        return 2
    args, weights_option, _ = ZOO[a.name]
    command = [sys.executable, os.path.join(HERE, args[0])] + args[1:]
    if a.weights:
        if weights_option is None:
            print(f"error: {a.name} takes no weights (random, benchmarks only)", file=sys.stderr)
            return 2
        command = [c for c in command if c not in ("--person", "--real-weights")] + [weights_option, a.weights]
        if args == ["ssdlite.py", "--person"]:
            command = [sys.executable, os.path.join(HERE, "ssdlite.py"), "--frozen-graph", a.weights]
    command += ["--out", a.out or os.path.join(HERE, "generated", a.name + ".onnx")]
    return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main())
