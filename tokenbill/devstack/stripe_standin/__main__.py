"""`python -m tokenbill.devstack.stripe_standin --port 12111` (the key: --api-key or
$STRIPE_STANDIN_API_KEY, by default the fixed local stand-in key)."""

import argparse
import os
from pathlib import Path

import uvicorn

from tokenbill.devstack.stripe_standin.app import build_app
from tokenbill.devstack.stripe_standin.faults import StandinFaults
from tokenbill.devstack.stripe_standin.process import API_KEY_VARIABLE, STANDIN_API_KEY
from tokenbill.devstack.stripe_standin.server import HOST


def main() -> None:
    parser = argparse.ArgumentParser(description="A local stand-in for Stripe's API (loopback).")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_VARIABLE, STANDIN_API_KEY),
        help=f"the sk_test_ key clients must send (default: ${API_KEY_VARIABLE})",
    )
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="share of writes answered 500"
    )
    parser.add_argument("--lost-answer-rate", type=float, default=0.0,
                        help="share of writes done whose answer hangs")  # fmt: skip
    parser.add_argument("--hang-seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--fault-log", type=Path, default=None, help="JSON lines of faults")
    args = parser.parse_args()
    faults = StandinFaults(error_rate=args.error_rate, lost_answer_rate=args.lost_answer_rate,
                           hang_seconds=args.hang_seconds, seed=args.seed,
                           log_path=args.fault_log)  # fmt: skip
    uvicorn.run(build_app(args.api_key, faults), host=HOST, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
