"""The kit's detector: an SCRFD-contract ONNX graph that finds the synthetic faces by their moments.

How it works, all in-graph (H and W are dynamic):
1. A hard skin mask m from the colour rule (`skin_rule`).
2. Per stride-8 cell, sums of m, m*x, m*y, m*x^2, m*y^2 (two MatMuls over the cell's pixels;
   coordinates divided by 64 to keep float32 sums exact enough); 2x2 pooling gives strides 16, 32.
3. For each stride, box-sums over windows of (2r+1)^2 cells around every cell, for several r: the
   area, centroid and variances of the skin inside each window.
4. The face height follows from the variances, its centre from the centroid (with calibration
   factors measured at generation time on a drawn face, since eyes, nose and mouth are holes).
5. A window fires where: this cell holds the face centre; its outer ring of cells holds no skin (the
   face lies wholly inside); the area and aspect fit one ellipse of that height. An anchor fires
   (score 0.9..0.99, more for bigger faces) where a window fired and the height is in the anchor's
   band (stride 8: 20-64 px, 16: 64-128, 32: 128-520; each split between its 2 anchors).
   Otherwise the score is 0.01. Box and keypoints come from the centre and height through the
   drawing's fixed proportions, encoded as SCRFD distances from the anchor point.

Faces must stand apart: a neighbour reaching into the smallest window around a face (about one cell
beyond the face) hides both. A face cut by the frame's edge is not found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto

from engines.testing import skin_rule
from engines.testing import synthetic_face as sf
from engines.testing.graph_helpers import GraphBuilder

STRIDES = (8, 16, 32)
COORD_SCALE = 64.0  # coordinates enter the moments divided by this
# A found face scores between SCORE_MIN_ON (tiny) and SCORE_ON (SCORE_FULL_HEIGHT px or taller): when
# insightface runs several det sizes and merges them by NMS, the detection with more pixels (the more
# precise one) wins.
SCORE_ON, SCORE_MIN_ON, SCORE_OFF = 0.99, 0.9, 0.01
SCORE_FULL_HEIGHT = 256.0
AREA_TOLERANCE = 0.2
ASPECT_TOLERANCE = 0.15
RING_TOLERANCE = 0.02
MIN_AREA_PX = 40.0


@dataclass(frozen=True)
class AnchorSpec:
    """Which face heights (in input pixels) one anchor of one stride reports."""

    stride: int
    anchor: int
    min_height: float
    max_height: float


ANCHOR_SPECS: tuple[AnchorSpec, ...] = (
    AnchorSpec(8, 0, 20.0, 32.0),
    AnchorSpec(8, 1, 32.0, 64.0),
    AnchorSpec(16, 0, 64.0, 96.0),
    AnchorSpec(16, 1, 96.0, 128.0),
    AnchorSpec(32, 0, 128.0, 256.0),
    AnchorSpec(32, 1, 256.0, 520.0),
)


def window_radii(stride: int) -> tuple[int, ...]:
    """Window half-sizes (in cells) tried at a stride: from 2 up to one more than needed for the
    stride's largest face to fit inside the inner window."""
    largest = max(s.max_height for s in ANCHOR_SPECS if s.stride == stride)
    needed = int(np.ceil((largest / 2.0 + 4.0) / stride)) + 1
    return tuple(range(2, needed + 1))


@dataclass(frozen=True)
class DetectorCalibration:
    """Maps skin moments of a drawn face to its geometry: height = k_x*sd_x = k_y*sd_y,
    centre = centroid + offset*height, area = area_ratio*height^2."""

    k_x: float
    k_y: float
    offset_x: float
    offset_y: float
    area_ratio: float


def _mask_moments(mask: np.ndarray) -> tuple[float, float, float, float, float]:
    yy, xx = np.nonzero(mask)
    xs, ys = xx.astype(np.float64), yy.astype(np.float64)
    return float(len(xs)), xs.mean(), ys.mean(), xs.var(), ys.var()


def calibrate() -> DetectorCalibration:
    """Measures the drawn face's skin moments at a few sizes and sub-pixel offsets (in numpy, with
    the same hard colour rule the graph uses) and averages the ratios."""
    samples: list[tuple[float, float, float, float, float]] = []
    identity = sf.IDENTITIES[0]
    for height, dx, dy in ((120.0, 0.0, 0.0), (200.0, 0.25, 0.5), (300.0, 0.5, 0.75), (80.0, 0.75, 0.25)):
        size = int(height * 1.4)
        frame = np.zeros((size, size, 3), dtype=np.uint8)
        cx, cy = size / 2.0 + dx, size / 2.0 + dy
        sf.draw_face(frame, (cx, cy), height, identity)
        area, mx, my, vx, vy = _mask_moments(skin_rule.hard_skin_mask(frame))
        samples.append((height / np.sqrt(vx), height / np.sqrt(vy), (cx - mx) / height, (cy - my) / height,
                        area / height**2))
    mean = np.mean(np.array(samples), axis=0)
    return DetectorCalibration(*(round(float(v), 6) for v in mean))


def _box_sum(g: GraphBuilder, cells: str, radius: int) -> str:
    """Sum over the (2r+1)^2 window of cells around each cell (zero outside), separably."""
    k = 2 * radius + 1
    rows = g.op("AveragePool", [cells], kernel_shape=[1, k], pads=[0, radius, 0, radius], count_include_pad=1)
    both = g.op("AveragePool", [rows], kernel_shape=[k, 1], pads=[radius, 0, radius, 0], count_include_pad=1)
    return g.scale(both, float(k * k))


def _output_matrix(stride: int) -> np.ndarray:
    """Maps [dx, dy, height] (face centre minus anchor point, face height; pixels) to the 4 SCRFD box
    distances and 10 keypoint offsets, all in units of the stride."""
    half_w, half_h = sf.FACE_WIDTH_RATIO / 2.0, 0.5
    columns = [
        (-1.0, 0.0, half_w),  # left:   ax - x1
        (0.0, -1.0, half_h),  # top:    ay - y1
        (1.0, 0.0, half_w),   # right:  x2 - ax
        (0.0, 1.0, half_h),   # bottom: y2 - ay
    ]
    for rel_x, rel_y in sf.KEYPOINTS_REL:
        columns.append((1.0, 0.0, float(rel_x)))
        columns.append((0.0, 1.0, float(rel_y)))
    return (np.array(columns, dtype=np.float32).T / float(stride)).astype(np.float32)  # [3, 14]


def _stride_head(g: GraphBuilder, cells: str, stride: int, specs: list[AnchorSpec], cal: DetectorCalibration,
                 cell_x: str, cell_y: str) -> tuple[str, str, str]:
    """Scores [N,1], boxes [N,4], kps [N,10] of one stride from its cell sums [1,5,h,w].

    Every window radius r is tried at once (axis "R" below): a window fires when its outer ring of
    cells is empty and its contents are one ellipse whose centre lies in this cell. All firing windows
    of a cell see the same lone face, so their geometry is averaged; an anchor fires when that face's
    height is in the anchor's range."""
    radii = window_radii(stride)
    n_anchor = len(specs)
    windows = [_box_sum(g, cells, r) for r in radii]  # each [1, 5, h, w]
    by_moment = g.op("Transpose", [g.op("Concat", windows, axis=0)], perm=[1, 0, 2, 3])  # [5, R, h, w]
    area, sx, sy, sxx, syy = g.op_multi("Split", [by_moment], 5, axis=0)  # each [1, R, h, w]
    area_cells = g.slice_channels(cells, 0, 1)
    inner_area = g.op("Concat", [_box_sum(g, area_cells, r - 1) for r in radii], axis=1)

    safe_area = g.op("Max", [area, g.const(1.0)])
    mean_x, mean_y = g.div(sx, safe_area), g.div(sy, safe_area)
    var_x = g.op("Max", [g.sub(g.div(sxx, safe_area), g.mul(mean_x, mean_x)), g.const(1e-8)])
    var_y = g.op("Max", [g.sub(g.div(syy, safe_area), g.mul(mean_y, mean_y)), g.const(1e-8)])
    height_x = g.scale(g.op("Sqrt", [var_x]), cal.k_x * COORD_SCALE)
    height_y = g.scale(g.op("Sqrt", [var_y]), cal.k_y * COORD_SCALE)
    height = g.scale(g.add(height_x, height_y), 0.5)
    anchor_x, anchor_y = g.scale(cell_x, float(stride)), g.scale(cell_y, float(stride))
    # Face centre relative to this cell's anchor point (its top-left corner), in pixels.
    dx = g.sub(g.add(g.scale(mean_x, COORD_SCALE), g.scale(height, cal.offset_x)), anchor_x)
    dy = g.sub(g.add(g.scale(mean_y, COORD_SCALE), g.scale(height, cal.offset_y)), anchor_y)

    def between(value: str, lo: float | np.ndarray, hi: float | np.ndarray) -> str:
        return g.op("And", [g.op("GreaterOrEqual", [value, g.const(lo)]), g.op("Less", [value, g.const(hi)])])

    conditions = [
        between(g.div(area, g.op("Max", [g.scale(g.mul(height, height), cal.area_ratio), g.const(1.0)])),
                1.0 - AREA_TOLERANCE, 1.0 + AREA_TOLERANCE),
        between(g.div(height_x, g.op("Max", [height_y, g.const(1e-3)])), 1.0 - ASPECT_TOLERANCE,
                1.0 + ASPECT_TOLERANCE),
        g.op("LessOrEqual", [g.sub(area, inner_area), g.offset(g.scale(area, RING_TOLERANCE), 0.5)]),
        g.op("GreaterOrEqual", [area, g.const(MIN_AREA_PX)]),
        between(dx, -1e-3, stride + 1e-3),
        between(dy, -1e-3, stride + 1e-3),
    ]
    window_ok = conditions[0]
    for condition in conditions[1:]:
        window_ok = g.op("And", [window_ok, condition])  # [1, R, h, w]

    # All windows that fire at a cell see the same lone face: average their geometry.
    ok = g.indicator(window_ok)  # [1, R, h, w]
    n_ok = g.reduce_sum(ok, [1])  # [1, 1, h, w]
    norm = g.op("Max", [n_ok, g.const(1.0)])
    dx, dy, height = (g.div(g.reduce_sum(g.mul(ok, t), [1]), norm) for t in (dx, dy, height))

    lo = np.array([s.min_height for s in specs], np.float32).reshape(1, n_anchor, 1, 1)
    hi = np.array([s.max_height for s in specs], np.float32).reshape(1, n_anchor, 1, 1)
    fires = g.op("And", [g.op("Greater", [n_ok, g.const(0.0)]), between(height, lo, hi)])  # [1, A, h, w]
    confidence = g.offset(g.scale(g.op("Min", [height, g.const(SCORE_FULL_HEIGHT)]),
                                  (SCORE_ON - SCORE_MIN_ON) / SCORE_FULL_HEIGHT), SCORE_MIN_ON - SCORE_OFF)
    score = g.offset(g.mul(g.indicator(fires), confidence), SCORE_OFF)  # [1, A, h, w]
    scores = g.reshape(g.op("Transpose", [score], perm=[0, 2, 3, 1]), [-1, 1])

    geometry = g.op("Concat", [g.op("Unsqueeze", [t, g.ints([4])]) for t in (dx, dy, height)], axis=4)
    geometry = g.op("Transpose", [geometry], perm=[0, 2, 3, 1, 4])  # [1, h, w, 1, 3]
    encoded = g.op("MatMul", [geometry, g.initializer(_output_matrix(stride), f"decode{stride}")])
    encoded = g.reshape(g.op("Concat", [encoded] * n_anchor, axis=3), [-1, 14])  # rows: cell, then anchor
    boxes, kps = g.op_multi("Split", [encoded, g.ints([4, 10])], 2, axis=1)
    return scores, boxes, kps


def _offset_powers(stride: int) -> np.ndarray:
    """[s, 3]: 1, d, d^2 for the offsets d inside a cell (divided by COORD_SCALE)."""
    d = np.arange(stride, dtype=np.float64) / COORD_SCALE
    return np.stack([np.ones_like(d), d, d * d], axis=1).astype(np.float32)


def _grid(g: GraphBuilder, tensor: str) -> tuple[str, str]:
    """Column and row index maps ([1,1,1,w] and [1,1,h,1], float) of a [1,C,h,w] tensor."""
    shape = g.op("Shape", [tensor])
    rows = g.cast(g.op("Gather", [shape, g.ints(2)], axis=0), TensorProto.FLOAT)
    cols = g.cast(g.op("Gather", [shape, g.ints(3)], axis=0), TensorProto.FLOAT)
    cell_x = g.reshape(g.op("Range", [g.const(0.0), cols, g.const(1.0)]), [1, 1, 1, -1])
    cell_y = g.reshape(g.op("Range", [g.const(0.0), rows, g.const(1.0)]), [1, 1, -1, 1])
    return cell_x, cell_y


def build_detector(calibration: DetectorCalibration | None = None) -> onnx.ModelProto:
    """The detector graph (input `input.1` [1,3,H,W]; 9 outputs as SCRFD-10G)."""
    cal = calibration or calibrate()
    g = GraphBuilder("det")
    x = g.add_input("input.1", [1, 3, "H", "W"])
    # insightface feeds RGB, (p - 127.5) / 128: apply the hard colour rule in that space.
    red, blue = g.slice_channels(x, 0, 1), g.slice_channels(x, 2, 3)
    red_margin = g.offset(red, -(skin_rule.RED_MIN - 127.5) / 128.0)
    rb_margin = g.offset(g.sub(red, blue), -skin_rule.RED_MINUS_BLUE_MIN / 128.0)
    mask = g.indicator(g.op("Greater", [g.op("Min", [red_margin, rb_margin]), g.const(0.0)]))  # [1,1,H,W]

    # Stride-8 cells: crop to whole cells, then two MatMuls give each cell's local moments (sums of
    # 1, dx, dy, dx^2, dy^2 over its skin pixels, offsets inside the cell); then shift to global
    # coordinates.
    shape = g.op("Shape", [x])
    hw = g.op("Slice", [shape, g.ints([2]), g.ints([4]), g.ints([0])])
    cells_hw = g.op("Div", [hw, g.ints([8, 8])])
    whole = g.op("Slice", [mask, g.ints([0, 0]), g.op("Mul", [cells_hw, g.ints([8, 8])]), g.ints([2, 3])])
    h8 = g.op("Slice", [cells_hw, g.ints([0]), g.ints([1]), g.ints([0])])
    w8 = g.op("Slice", [cells_hw, g.ints([1]), g.ints([2]), g.ints([0])])
    powers = _offset_powers(8)  # [8, 3]: 1, d, d^2
    per_row = g.op("Reshape", [whole, g.op("Concat", [g.ints([-1]), w8, g.ints([8])], axis=0)])
    per_row = g.op("MatMul", [per_row, g.initializer(powers, "col_powers")])  # [H, w8, 3]
    per_row = g.op("Reshape", [per_row, g.op("Concat", [h8, g.ints([8, -1])], axis=0)])  # [h8, 8, w8*3]
    local = g.op("MatMul", [g.initializer(powers.T.copy(), "row_powers"), per_row])  # [h8, 3, w8*3]
    local = g.op("Reshape", [local, g.op("Concat", [h8, g.ints([3]), w8, g.ints([3])], axis=0)])
    local = g.op("Reshape", [g.op("Transpose", [local], perm=[1, 3, 0, 2]),
                             g.op("Concat", [g.ints([9]), h8, w8], axis=0)])  # [(dy^i, dx^j), h8, w8]
    # pick sums of 1, dx, dy, dx^2, dy^2
    local = g.op("Unsqueeze", [g.op("Gather", [local, g.ints([0, 1, 3, 2, 6])], axis=0), g.ints([0])])
    col, row = _grid(g, local)
    x0, y0 = g.scale(col, 8.0 / COORD_SCALE), g.scale(row, 8.0 / COORD_SCALE)
    a, lx, ly, lxx, lyy = g.op_multi("Split", [local], 5, axis=1)
    sx = g.add(g.mul(x0, a), lx)
    sy = g.add(g.mul(y0, a), ly)
    sxx = g.add(g.mul(g.mul(x0, x0), a), g.add(g.mul(g.scale(x0, 2.0), lx), lxx))
    syy = g.add(g.mul(g.mul(y0, y0), a), g.add(g.mul(g.scale(y0, 2.0), ly), lyy))
    cells8 = g.op("Concat", [a, sx, sy, sxx, syy], axis=1)
    cells16 = g.scale(g.op("AveragePool", [cells8], kernel_shape=[2, 2], strides=[2, 2]), 4.0)
    cells32 = g.scale(g.op("AveragePool", [cells16], kernel_shape=[2, 2], strides=[2, 2]), 4.0)

    results: dict[str, list[str]] = {"score": [], "bbox": [], "kps": []}
    for stride, cells in zip(STRIDES, (cells8, cells16, cells32)):
        cell_x, cell_y = (col, row) if stride == 8 else _grid(g, cells)
        specs = [s for s in ANCHOR_SPECS if s.stride == stride]
        score, bbox, kps = _stride_head(g, cells, stride, specs, cal, cell_x, cell_y)
        results["score"].append(score)
        results["bbox"].append(bbox)
        results["kps"].append(kps)

    widths = {"score": 1, "bbox": 4, "kps": 10}
    for kind in ("score", "bbox", "kps"):
        for stride, tensor in zip(STRIDES, results[kind]):
            g.add_output(tensor, f"{kind}_{stride}", [f"N{stride}", widths[kind]])
    doc = ("SwapCast test-kit detector (SCRFD contract): finds the kit's synthetic faces by skin-colour "
           f"moments. Calibration: {cal}.")
    return g.build("swapcast_kit_detector", doc)
