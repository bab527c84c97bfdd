"""Benchmark frames: the kit's synthetic faces on a busy background, at standard sizes."""

from __future__ import annotations

import numpy as np

from engines.testing.synthetic_face import IDENTITIES, busy_background, draw_face, plain_background

SIZES: dict[str, tuple[int, int]] = {"720p": (1280, 720), "1080p": (1920, 1080), "2160p": (3840, 2160)}


def benchmark_frame(size: tuple[int, int], faces: int, seed: int = 0) -> np.ndarray:
    """`faces` faces side by side, each about a third of the frame's height (a webcam close-up)."""
    width, height = size
    frame = busy_background(width, height, seed)
    # Faces at most half their spacing wide, so neighbours stay well apart (as people in a call do).
    face_height = min(height * 0.36, width / (faces + 1) * 0.5 / 0.8)
    for i in range(faces):
        x = width * (i + 1) / (faces + 1)
        draw_face(frame, (x, height * 0.5), face_height, IDENTITIES[(i + 2) % len(IDENTITIES)])
    return frame


def source_face_image() -> np.ndarray:
    """A plain portrait of one identity that no benchmark frame shows."""
    image = plain_background(512, 512)
    draw_face(image, (256, 256), 300, IDENTITIES[1])
    return image


def write_benchmark_clip(path, size: tuple[int, int] = (1920, 1080), frames: int = 60, fps: int = 30,
                         keyframe_every: int | None = None) -> None:
    """A clip with one face crossing a busy background (H.264, near-lossless so decode is realistic).
    `keyframe_every` frames: a fixed GOP, so the clip splits into segments (benchmark --offline)."""
    import av

    width, height = size
    background = busy_background(width, height, seed=5)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        if keyframe_every:
            stream.options = {**stream.options, "g": str(keyframe_every), "keyint_min": str(keyframe_every),
                              "sc_threshold": "0"}
        for i in range(frames):
            frame = background.copy()
            x = width * (0.25 + 0.5 * i / max(1, frames - 1))
            draw_face(frame, (x, height * 0.5), height * 0.36, IDENTITIES[2])
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
