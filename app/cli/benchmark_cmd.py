"""`swapcast benchmark`: our engine vs the reference path, in one run, on the same models and frames."""

from __future__ import annotations

import argparse
import json
import sys

from app.paths import user_paths
from app.models_option import models_override


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "benchmark", help="time our engine against insightface's reference path (same models, same frames)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument("--sizes", default="720p,1080p", help="comma-separated: 720p,1080p,2160p (default 720p,1080p)")
    parser.add_argument("--faces", type=int, default=1, help="faces per frame (default 1)")
    parser.add_argument("--iterations", type=int, default=20, help="timed runs per case (default 20)")
    parser.add_argument("--no-reference", action="store_true", help="skip the (slow) reference path")
    parser.add_argument("--provider", default="auto", help="auto, cuda, tensorrt, cpu (default auto)")
    parser.add_argument("--swapper", default=None, help="a swapper model id (e.g. inswapper_128_arch)")
    parser.add_argument("--detector", default=None, help="a detector model id (e.g. det_10g_arch)")
    parser.add_argument("--video", action="store_true",
                        help="also time a video: swap throughput vs plain decode → encode (same encoder)")
    parser.add_argument("--video-size", default="1080p", help="size of the generated clip (default 1080p)")
    parser.add_argument("--video-frames", type=int, default=90, help="frames in the generated clip (default 90)")
    parser.add_argument("--encoder", default="auto", help="encoder for --video (default auto)")
    parser.add_argument("--no-frame", action="store_true", help="skip the per-frame comparison")
    parser.add_argument("--live", action="store_true",
                        help="also run the live pipeline on a generated 30 fps clip played as the camera, at each "
                             "of --sizes: capture→output latency p50/p95, sustained fps, each stage's share")
    parser.add_argument("--live-seconds", type=float, default=6.0, help="measured seconds per live size (default 6)")
    parser.add_argument("--live-outputs", default="", metavar="LIST",
                        help="extra live outputs to load the machine with: stream,record (default none: preview only)")
    parser.add_argument("--api", action="store_true",
                        help="time the task API instead (no models needed): GET /api/status and image-job posts per "
                             "second, and progress-write → /api/events latency, on a server it starts on 127.0.0.1")
    parser.add_argument("--storage", action="store_true",
                        help="time object storage instead: 200 MB upload/download to a local S3 server (SeaweedFS it "
                             "starts, or the AWS_* environment's) and what an s3:// → s3:// job adds over a local one")
    parser.add_argument("--lipsync", action="store_true",
                        help="also time lip sync: `swapcast lipsync` on the kit's sample clip vs a plain transcode of "
                             "the same timeline and audio (fps)")
    parser.add_argument("--lipsync-seconds", type=float, default=6.0,
                        help="seconds of speech for --lipsync (default 6: the 3 s clip loops once)")
    parser.add_argument("--quick", action="store_true", help="with --api / --storage: small counts (a smoke test)")
    parser.add_argument("--offline", action="store_true",
                        help="time an offline video job on Ray actors instead (needs swapcast[cluster]): the same job "
                             "on each --actors count, fps, speed-up and where the time goes (split, transfer, swap, join); "
                             "uses --video-size and --video-frames")
    parser.add_argument("--actors", default="1,2", metavar="LIST", help="with --offline: actor counts (default 1,2)")
    parser.add_argument("--segment-seconds", type=float, default=1.0, metavar="S",
                        help="with --offline: segment length (default 1)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engines.errors import InputError
    from engines.models.store import ModelStore

    from app.benchmark.frame_bench import run_frame_benchmark
    from app.benchmark.machine import describe_device
    from app.benchmark.scenes import SIZES

    if args.api:
        return _run_api(args)
    if args.storage:
        return _run_storage(args)
    if args.offline:
        return _run_offline(args)
    if args.quick:
        raise InputError("--quick goes with --api or --storage",
                         "add --api or --storage, or use --iterations for the engine benchmark")
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise InputError(f"unknown size {', '.join(unknown)}", f"use {', '.join(SIZES)}")
    if args.faces < 1:
        raise InputError("--faces must be at least 1")
    store = ModelStore.resolve(user_paths().models, models_override(args))
    log = (lambda message: print(message, file=sys.stderr)) if args.json else print
    results: list = []
    if not args.no_frame:
        results += run_frame_benchmark(store, sizes, args.faces, args.iterations, not args.no_reference,
                                       providers=(args.provider,), swapper_id=args.swapper,
                                       detector_id=args.detector, log=log)
    if args.video:
        from app.benchmark.video_bench import run_video_benchmark

        if args.video_size not in SIZES:
            raise InputError(f"unknown size {args.video_size}", f"use {', '.join(SIZES)}")
        results.append(run_video_benchmark(store, args.video_size, args.video_frames, args.encoder,
                                           providers=(args.provider,), swapper_id=args.swapper,
                                           detector_id=args.detector, log=log))
    if args.live:
        from app.benchmark.live_bench import EXTRA_OUTPUTS, run_live_benchmark

        extra = [o.strip() for o in args.live_outputs.split(",") if o.strip()]
        if any(o not in EXTRA_OUTPUTS for o in extra):
            raise InputError(f"unknown live output in '{args.live_outputs}'", f"use {', '.join(EXTRA_OUTPUTS)}")
        if args.live_seconds <= 0:
            raise InputError("--live-seconds must be positive")
        results += run_live_benchmark(store, sizes, args.live_seconds, extra, providers=(args.provider,),
                                      swapper_id=args.swapper, detector_id=args.detector, log=log)
    if args.lipsync:
        from app.benchmark.lipsync_bench import run_lipsync_benchmark

        if args.lipsync_seconds <= 0:
            raise InputError("--lipsync-seconds must be positive")
        results.append(run_lipsync_benchmark(store, args.lipsync_seconds, args.encoder, providers=(args.provider,),
                                             log=log))
    document = {
        "device": describe_device(),
        "models": {spec.role: spec.id for spec in store.specs() if spec.default},
        "models_dir": str(store.directory),
        "results": [r.as_dict() for r in results],
    }
    if args.json:
        print(json.dumps(document, indent=2))
    return 0


def _run_api(args: argparse.Namespace) -> int:
    from app.benchmark.api_bench import QUICK, ApiBenchPlan, run_api_benchmark
    from app.benchmark.machine import describe_device

    log = (lambda message: print(message, file=sys.stderr)) if args.json else print
    result = run_api_benchmark(QUICK if args.quick else ApiBenchPlan(), log)
    if args.json:
        print(json.dumps({"device": describe_device(), "results": [result.as_dict()]}, indent=2))
    else:
        print(f"API on 127.0.0.1 — {describe_device()}; server and clients on this machine")
        print(result.table())
    return 0


def _run_storage(args: argparse.Namespace) -> int:
    from app.benchmark.machine import describe_device
    from app.benchmark.storage_bench import QUICK, StorageBenchPlan, run_storage_benchmark

    log = (lambda message: print(message, file=sys.stderr)) if args.json else print
    result = run_storage_benchmark(QUICK if args.quick else StorageBenchPlan(), log)
    if args.json:
        print(json.dumps({"device": describe_device(), "results": [result.as_dict()]}, indent=2))
    else:
        print(f"object storage — {describe_device()}; server on this machine ({result.server})")
        print(result.table())
    return 0


def _run_offline(args: argparse.Namespace) -> int:
    from engines.errors import InputError

    from app.benchmark.machine import describe_device
    from app.benchmark.scale_bench import run_scale_benchmark, table
    from app.benchmark.scenes import SIZES

    try:
        counts = [int(part) for part in args.actors.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise InputError(f"--actors '{args.actors}' is not a list of actor counts", "use e.g. --actors 1,2,4")
    if args.video_size not in SIZES:
        raise InputError(f"unknown size {args.video_size}", f"use {', '.join(SIZES)}")
    if args.segment_seconds <= 0 or args.video_frames < 2:
        raise InputError("--segment-seconds must be positive and --video-frames at least 2")
    log = (lambda message: print(message, file=sys.stderr)) if args.json else print
    models = str(models_override(args)) if models_override(args) else None
    results = run_scale_benchmark(counts, args.video_size, args.video_frames, args.segment_seconds, models, log)
    if args.json:
        print(json.dumps({"device": describe_device(), "results": [r.as_dict() for r in results]}, indent=2))
    else:
        print(f"offline video on Ray actors — {describe_device()}; everything on this machine")
        print(table(results))
    return 0
