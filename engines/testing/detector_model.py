"""The kit's detector: an SCRFD-contract ONNX graph that finds the synthetic faces by their moments.

It runs on every frame of the app's tests and benchmarks, so it is built to cost well under a
millisecond: a few passes over half the input's rows, then work on grids of 16-px cells, and only the
anchors that hold a face are written. All in-graph (H and W are dynamic, at least 16 px):

1. A hard skin mask from the colour rule (`skin_rule`) on every second row of the input.
2. One strided Conv sums 1, dx, dy, dx^2, dy^2 over the skin samples of every 16-px cell; adding each
   cell's origin gives global moments (sums of 1, x, y, x^2, y^2). Summing 2x2 cells gives 32- and
   64-px cells: three "levels".
3. Windows of (2r+1)^2 cells around every cell of every level, for r = 3, 4, 5 (per level, two MatMuls
   with band matrices give every radius at once): the area, centroid and variances of the skin in each.
4. The face height follows from the variances, its centre from the centroid (with calibration
   factors measured at generation time on a drawn face, since eyes, nose and mouth are holes).
5. A window "sees" a face where its outer ring of cells holds no skin (the face lies wholly inside)
   and the area and aspect fit one ellipse of that height. Every window around a lone face that holds
   it sees the same pixels, hence the same face.
6. Each face seen goes to the SCRFD stride and anchor whose height band holds its height (stride 8:
   20-120 px, 16: 120-248, 32: 248-504), in the anchor cell that holds its centre, once: score
   0.9..0.99 (more for bigger faces), box and keypoints from the centre and height through the
   drawing's fixed proportions, as SCRFD distances from the anchor point. Every other anchor scores
   0.01.

Faces must stand apart: a neighbour reaching into every window that holds a face hides it (the
smallest such window is 112 px wide for faces up to 56 px, else 1.4 to 2.5 face heights). A face cut
by the frame's edge is not found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from engines.testing import skin_rule
from engines.testing import synthetic_face as sf
from engines.testing.graph_helpers import GraphBuilder

STRIDES = (8, 16, 32)
CELL = 16  # px: the cells of the finest level; the coarser levels' cells are 32 and 64 px
LEVELS = 3
ROW_STEP = 2  # the mask reads every ROW_STEP-th row: half the work, and faces still land within ~1 px
RADII = (3, 4, 5)  # window half-sizes, in cells, at every level
EDGE_MARGIN = 4.0  # px kept free between a face and its window's inner edge (anti-aliased rim, errors)
# A found face scores between SCORE_MIN_ON (tiny) and SCORE_ON (SCORE_FULL_HEIGHT px or taller): when
# insightface runs several det sizes and merges them by NMS, the detection with more pixels (the more
# precise one) wins.
SCORE_ON, SCORE_MIN_ON, SCORE_OFF = 0.99, 0.9, 0.01
SCORE_FULL_HEIGHT = 256.0
AREA_TOLERANCE = 0.2
ASPECT_TOLERANCE = 0.15
RING_TOLERANCE = 0.02
VAR_FLOOR = 1e-4  # px^2: keeps square roots and divisions finite on empty windows
SKIN_BASE = skin_rule.RED_MINUS_BLUE_MIN / 128.0  # see _skin_mask


@dataclass(frozen=True)
class AnchorSpec:
    """Which face heights (in input pixels) one anchor of one stride reports."""

    stride: int
    anchor: int
    min_height: float
    max_height: float


# Contiguous bands: each stride's anchor 0 starts where the previous stride's anchor 1 ends. The
# tallest, 504 px, is what the largest window holds: window_fits(64, 5).
ANCHOR_SPECS: tuple[AnchorSpec, ...] = (
    AnchorSpec(8, 0, 20.0, 88.0),
    AnchorSpec(8, 1, 88.0, 120.0),
    AnchorSpec(16, 0, 120.0, 176.0),
    AnchorSpec(16, 1, 176.0, 248.0),
    AnchorSpec(32, 0, 248.0, 352.0),
    AnchorSpec(32, 1, 352.0, 504.0),
)


def window_fits(cell: int, radius: int) -> float:
    """The tallest face a window of this radius (in cells of `cell` px) holds wherever the face centre
    lies in the centre cell: its inner window (radius - 1) must hold the face plus EDGE_MARGIN."""
    return 2.0 * ((radius - 1) * cell - EDGE_MARGIN)


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
    """Area, centroid and variances of a mask sampled as the graph samples it: every ROW_STEP-th row,
    each sample standing for ROW_STEP pixels."""
    yy, xx = np.nonzero(mask[::ROW_STEP])
    xs, ys = xx.astype(np.float64), yy.astype(np.float64) * ROW_STEP
    return float(len(xs)) * ROW_STEP, xs.mean(), ys.mean(), xs.var(), ys.var()


def calibrate() -> DetectorCalibration:
    """Measures the drawn face's skin moments at a few sizes and sub-pixel offsets (in numpy, with
    the same hard colour rule and sampling the graph uses) and averages the ratios."""
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


# --- graph pieces -------------------------------------------------------------------------------
# ONNX Runtime spends a microsecond or two on every node however small its tensors, so the graph
# keeps few nodes: x and y travel side by side as channel pairs, all levels share one set of tests,
# and all strides share one set of output tables.


def _spatial(g: GraphBuilder, tensor: str) -> str:
    """[h, w] (int64) of a [N, C, h, w] tensor."""
    return g.op("Slice", [g.op("Shape", [tensor]), g.ints([2]), g.ints([4]), g.ints([0])])


def _skin_mask(g: GraphBuilder, x: str) -> str:
    """[1,1,ceil(H/ROW_STEP),W] on every ROW_STEP-th row: SKIN_BASE + 1/128 on skin, SKIN_BASE elsewhere
    (`_cell_moments` removes the base and the 1/128 scale).

    insightface feeds RGB as (p - 127.5) / 128. The rule red > RED_MIN and red - blue >
    RED_MINUS_BLUE_MIN reads red - max(blue, RED_MIN - RED_MINUS_BLUE_MIN) > RED_MINUS_BLUE_MIN; for
    integer grey levels the left side is a whole number of grey levels, so clipping it (in input units)
    to [SKIN_BASE, SKIN_BASE + 1/128] gives exactly one of two values. That is two row-strided reads
    and three elementwise passes over half the rows, the least full-resolution work this rule needs;
    keeping the base (rather than subtracting it here) saves a pass."""
    def every_other_row(channel: int) -> str:
        return g.op("Slice", [x, g.ints([channel, 0]), g.ints([channel + 1, 2**62]), g.ints([1, 2]),
                              g.ints([1, ROW_STEP])])

    bar = g.op("Max", [every_other_row(2),
                       g.const((skin_rule.RED_MIN - skin_rule.RED_MINUS_BLUE_MIN - 127.5) / 128.0)])
    return g.clip(g.sub(every_other_row(0), bar), SKIN_BASE, SKIN_BASE + 1.0 / 128.0)


def _cell_moments(g: GraphBuilder, mask: str) -> str:
    """[1,5,h,w]: sums of 1, dx, dy, dx^2, dy^2 over each CELL x CELL cell's skin samples (dx, dy: pixel
    offsets inside the cell; a sample stands for ROW_STEP pixels) in one strided Conv, which drops a
    partial last row or column of cells. The grid is padded with empty cells to a multiple of
    2^(LEVELS-1) cells, so the coarser levels pool exactly."""
    rows, cols = CELL // ROW_STEP, CELL
    dx = np.arange(cols, dtype=np.float32)
    dy = np.arange(rows, dtype=np.float32) * ROW_STEP
    weights = np.zeros((5, 1, rows, cols), np.float32)
    weights[0] = 1.0
    weights[1], weights[2] = dx[None, :], dy[:, None]
    weights[3], weights[4] = dx[None, :] ** 2, dy[:, None] ** 2
    weights *= ROW_STEP * 128.0  # a sample stands for ROW_STEP px, and the mask's skin step is 1/128 ...
    bias = -SKIN_BASE * weights.sum(axis=(1, 2, 3))  # ... on top of SKIN_BASE everywhere
    local = g.op("Conv", [mask, g.initializer(weights, "cell_weights"), g.initializer(bias, "cell_bias")],
                 kernel_shape=[rows, cols], strides=[rows, cols])
    step = 2 ** (LEVELS - 1)
    missing = g.op("Mod", [g.op("Neg", [_spatial(g, local)]), g.ints([step, step])])  # (-n) mod step
    return g.op("Pad", [local, g.op("Concat", [g.ints([0, 0, 0, 0, 0, 0]), missing], axis=0)])


def _cell_origins(g: GraphBuilder, cells: str) -> str:
    """[1,2,h,w]: x and y (px) of the top-left corner of every cell of a [1,C,h,w] grid of CELL-px cells."""
    hw = g.cast(_spatial(g, cells), TensorProto.FLOAT)

    def along(axis: int, shape: list[int]) -> str:
        end = g.scale(g.op("Gather", [hw, g.ints(axis)], axis=0), float(CELL))
        return g.reshape(g.op("Range", [g.const(0.0), end, g.const(float(CELL))]), shape)

    xs, ys = along(1, [1, 1, 1, -1]), along(0, [1, 1, -1, 1])
    zeros = g.scale(g.add(xs, ys), 0.0)  # [1,1,h,w]: lets both broadcast to the whole grid
    return g.op("Concat", [g.add(xs, zeros), g.add(ys, zeros)], axis=1)


def _global_moments(g: GraphBuilder, local: str) -> str:
    """Local sums (offsets from each cell's origin o) -> global sums of 1, x, y, x^2, y^2:
    s = o*a + l1 and ss = o^2*a + 2*o*l1 + l2 = o*(s + l1) + l2, for x and y at once."""
    origin = _cell_origins(g, local)
    area, first, second = g.op_multi("Split", [local, g.ints([1, 2, 2])], 3, axis=1)
    s = g.add(g.mul(origin, area), first)
    ss = g.add(g.mul(origin, g.add(s, first)), second)
    return g.op("Concat", [area, s, ss], axis=1)


def _bands(g: GraphBuilder, size: str, radii: tuple[int, ...]) -> str:
    """[R,1,n,n] 0/1 matrices B_r[i, j] = |i - j| <= r for n = `size` (int64 scalar); every level uses
    their top-left corners."""
    i = g.op("Range", [g.ints(0), size, g.ints(1)])
    distance = g.op("Abs", [g.sub(g.op("Unsqueeze", [i, g.ints([1])]), g.op("Unsqueeze", [i, g.ints([0])]))])
    within = g.op("LessOrEqual", [distance, g.ints(np.array(radii).reshape(-1, 1, 1, 1))])
    return g.cast(within, TensorProto.FLOAT)


def _window_sums(g: GraphBuilder, cells: str, band: str) -> str:
    """[R,5,h*w]: sums of a level's cell sums [1,5,h,w] over the (2r+1)^2 windows around each cell (zero
    outside the grid), for every radius `band` holds: along rows, then columns, one MatMul each."""
    hw = _spatial(g, cells)
    across = g.op("Slice", [band, g.ints([0, 0]), g.op("Gather", [hw, g.ints([1, 1])], axis=0), g.ints([2, 3])])
    down = g.op("Slice", [band, g.ints([0, 0]), g.op("Gather", [hw, g.ints([0, 0])], axis=0), g.ints([2, 3])])
    sums = g.op("MatMul", [down, g.op("MatMul", [cells, across])])  # [R,5,h,w]
    return g.reshape(sums, [len(RADII) + 1, 5, -1])


def _see_faces(g: GraphBuilder, sums: str, cal: DetectorCalibration) -> tuple[str, str]:
    """Window sums [R+1,5,M] (radii RADII[0]-1 .. RADII[-1]; M cells of all levels) -> which windows
    see a face ([V] bool, V = R*M windows) and what they see ([4,V]: face centre x, y and height in px,
    and the window's skin area)."""
    n = len(RADII)
    windows = g.op("Slice", [sums, g.ints([1]), g.ints([n + 1]), g.ints([0])])
    inner_area = g.op("Slice", [sums, g.ints([0, 0]), g.ints([n, 1]), g.ints([0, 1])])  # one radius less
    area, moments = g.op_multi("Split", [windows, g.ints([1, 4])], 2, axis=1)
    mean, mean_sq = g.op_multi("Split", [g.div(moments, g.op("Max", [area, g.const(1.0)])), g.ints([2, 2])], 2,
                               axis=1)  # [n,2,M] each
    var = g.op("Max", [g.sub(mean_sq, g.mul(mean, mean)), g.const(VAR_FLOOR)])
    axis_heights = g.mul(g.op("Sqrt", [var]), g.const(np.array([[cal.k_x], [cal.k_y]], np.float32)))
    height = g.op("ReduceMean", [axis_heights], axes=[1], keepdims=1)  # [n,1,M]
    centre = g.add(mean, g.mul(height, g.const(np.array([[cal.offset_x], [cal.offset_y]], np.float32))))
    height_x, height_y = g.op_multi("Split", [axis_heights], 2, axis=1)
    # Every test is a value that must lie in [lo, hi]; all are checked at once.
    tests = [
        (g.div(area, g.mul(height, height)),
         cal.area_ratio * (1.0 - AREA_TOLERANCE), cal.area_ratio * (1.0 + AREA_TOLERANCE)),
        (g.div(height_x, height_y), 1.0 - ASPECT_TOLERANCE, 1.0 + ASPECT_TOLERANCE),
        # the outer ring of cells is (nearly) empty: area - inner_area <= RING_TOLERANCE * area + 0.5
        (g.sub(g.scale(area, 1.0 - RING_TOLERANCE), inner_area), -np.inf, 0.5),
        (height, ANCHOR_SPECS[0].min_height, ANCHOR_SPECS[-1].max_height),
    ]
    values = g.op("Concat", [t[0] for t in tests], axis=1)  # [n,4,M]
    lo = g.const(np.array([[t[1]] for t in tests], np.float32))
    hi = g.const(np.array([[t[2]] for t in tests], np.float32))
    excess = g.op("ReduceMax", [g.op("Max", [g.sub(values, hi), g.sub(lo, values)])], axes=[1], keepdims=0)
    sees = g.op("LessOrEqual", [g.reshape(excess, [-1]), g.const(0.0)])
    seen = g.op("Concat", [centre, height, area], axis=1)  # [n,4,M]
    return sees, g.reshape(g.op("Transpose", [seen], perm=[1, 0, 2]), [4, -1])


def _geometry_matrices() -> tuple[np.ndarray, np.ndarray]:
    """Map (dx, dy, height) of a face (dx, dy: its centre minus the anchor point; all in units of the
    stride) to SCRFD box distances [3,4] (left, top, right, bottom) and keypoint offsets [3,10],
    through the drawing's fixed proportions."""
    half_w, half_h = sf.FACE_WIDTH_RATIO / 2.0, 0.5
    box = [(-1.0, 0.0, half_w), (0.0, -1.0, half_h), (1.0, 0.0, half_w), (0.0, 1.0, half_h)]
    kps = []
    for rel_x, rel_y in sf.KEYPOINTS_REL:
        kps += [(1.0, 0.0, float(rel_x)), (0.0, 1.0, float(rel_y))]
    return np.array(box, np.float32).T.copy(), np.array(kps, np.float32).T.copy()


def _stride_steps() -> tuple[np.ndarray, np.ndarray]:
    """A face's stride and anchor split are linear in `above` (its height >= the first height of
    stride 16, of stride 32): value = base + steps @ above. Returns (steps [2,2], base [2,1]) for the
    rows (stride px, first height of the stride's anchor 1)."""
    firsts = [next(s.min_height for s in ANCHOR_SPECS if s.stride == t and s.anchor == 1) for t in STRIDES]
    table = np.array([STRIDES, firsts], np.float32)  # [2,3]
    return np.diff(table, axis=1), table[:, :1].copy()


def _anchor_tables(g: GraphBuilder, sees: str, seen: str, image_hw: str) -> tuple[list[str], str]:
    """The SCRFD rows of all strides, one table per kind: scores [N,1], boxes [N,4], keypoints [N,10];
    N = sum over strides of (H // stride) * (W // stride) * 2, stride 8's rows first. Also returns the
    row count of each stride [3].

    Only a handful of anchors hold a face, so the tables start as "no face" (score SCORE_OFF, zero
    geometry, which insightface never decodes) and each face is written into its anchor's row."""
    views = g.op("Squeeze", [g.op("NonZero", [sees]), g.ints([0])])  # [K] windows that see a face
    centre, height, area = g.op_multi("Split", [g.op("Gather", [seen, views], axis=1), g.ints([2, 1, 1])], 3,
                                      axis=0)
    # Tightest views first (least skin: no sliver of a neighbour), so that the dedupe below keeps them.
    _, order = g.op_multi("TopK", [g.reshape(area, [-1]), g.op("Shape", [views])], 2, largest=0, sorted=1)
    centre, height = g.op("Gather", [centre, order], axis=1), g.op("Gather", [height, order], axis=1)

    # The stride, anchor and anchor cell of each view's face.
    starts = np.array([[s.min_height] for s in ANCHOR_SPECS if s.anchor == 0 and s.stride != STRIDES[0]],
                      np.float32)
    above = g.cast(g.op("GreaterOrEqual", [height, g.const(starts)]), TensorProto.FLOAT)  # [2,K]
    steps, base = _stride_steps()
    stride, split = g.op_multi("Split", [g.add(g.op("MatMul", [g.const(steps), above]), g.const(base)),
                                         g.ints([1, 1])], 2, axis=0)  # [1,K] each
    anchor = g.cast(g.op("GreaterOrEqual", [height, split]), TensorProto.FLOAT)
    image_wh = g.reshape(g.op("Gather", [image_hw, g.ints([1, 0])], axis=0), [2, 1])
    grid = g.op("Floor", [g.div(g.cast(image_wh, TensorProto.FLOAT), stride)])  # [2,K]: anchor columns, rows
    position = g.div(centre, stride)  # [2,K], in strides
    cell = g.op("Max", [g.op("Min", [g.op("Floor", [position]), g.offset(grid, -1.0)]), g.const(0.0)])

    # Its row in the tables: the rows of the strides before its own, then (row * columns + column) * 2
    # + anchor. A stride-16 face is above start 1, a stride-32 face above both.
    counts = g.op("Mul", [g.op("ReduceProd", [g.op("Div", [image_wh, g.ints(np.array([STRIDES]))])], axes=[0],
                                             keepdims=0), g.ints([2])])  # [3] rows per stride
    before = g.reshape(g.cast(g.op("Slice", [counts, g.ints([0]), g.ints([2]), g.ints([0])]), TensorProto.FLOAT),
                       [1, 2])
    column, row = g.op_multi("Split", [cell, g.ints([1, 1])], 2, axis=0)
    columns = g.op("Slice", [grid, g.ints([0]), g.ints([1]), g.ints([0])])
    number = g.add(g.add(g.op("MatMul", [before, above]), anchor), g.scale(g.add(g.mul(row, columns), column), 2.0))
    # Every window around a face that holds it sees it: keep the first (tightest) view per row.
    rows, first = g.op_multi("Unique", [g.reshape(g.cast(number, TensorProto.INT64), [-1])], 4, sorted=1)[:2]

    local = g.op("Concat", [g.sub(position, cell), g.div(height, stride)], axis=0)  # [3,K]: dx, dy, size
    local = g.op("Transpose", [g.op("Gather", [local, first], axis=1)], perm=[1, 0])  # [U,3]
    full_height = g.op("Transpose", [g.op("Gather", [height, first], axis=1)], perm=[1, 0])  # [U,1] px
    score = g.offset(g.scale(g.op("Min", [full_height, g.const(SCORE_FULL_HEIGHT)]),
                             (SCORE_ON - SCORE_MIN_ON) / SCORE_FULL_HEIGHT), SCORE_MIN_ON)
    box_m, kps_m = _geometry_matrices()
    total = g.op("ReduceSum", [counts], keepdims=1)
    where = g.op("Unsqueeze", [rows, g.ints([1])])  # [U,1]
    tables = []
    for width, fill, values in ((1, SCORE_OFF, score), (4, 0.0, g.op("MatMul", [local, g.const(box_m)])),
                                (10, 0.0, g.op("MatMul", [local, g.const(kps_m)]))):
        empty = g.op("ConstantOfShape", [g.op("Concat", [total, g.ints([width])], axis=0)],
                     value=helper.make_tensor("fill", TensorProto.FLOAT, [1], [fill]))
        tables.append(g.op("ScatterND", [empty, where, values]))
    return tables, counts


def build_detector(calibration: DetectorCalibration | None = None) -> onnx.ModelProto:
    """The detector graph (input `input.1` [1,3,H,W]; 9 outputs as SCRFD-10G)."""
    cal = calibration or calibrate()
    g = GraphBuilder("det")
    x = g.add_input("input.1", [1, 3, "H", "W"])
    cells = _global_moments(g, _cell_moments(g, _skin_mask(g, x)))  # [1,5,h,w], finest level
    radii = (RADII[0] - 1,) + RADII  # the smallest radius only gives the ring test its inner area
    band = _bands(g, g.op("ReduceMax", [_spatial(g, cells)], keepdims=0), radii)
    sums = []
    for level in range(LEVELS):
        if level:
            cells = g.scale(g.op("AveragePool", [cells], kernel_shape=[2, 2], strides=[2, 2]), 4.0)
        sums.append(_window_sums(g, cells, band))
    sees, seen = _see_faces(g, g.op("Concat", sums, axis=2), cal)
    tables, counts = _anchor_tables(g, sees, seen, _spatial(g, x))

    # The outputs: each table split into its strides (no copy through Identity nodes), in SCRFD's
    # order: scores, boxes, keypoints, each for strides 8, 16, 32.
    for kind, width, table in zip(("score", "bbox", "kps"), (1, 4, 10), tables):
        names = [f"{kind}_{stride}" for stride in STRIDES]
        g.nodes.append(helper.make_node("Split", [table, counts], names, name=f"det/Split_{kind}", axis=0))
        g.outputs.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, [f"N{stride}", width])
                         for stride, name in zip(STRIDES, names))
    doc = ("SwapCast test-kit detector (SCRFD contract): finds the kit's synthetic faces by skin-colour "
           f"moments. Calibration: {cal}.")
    return g.build("swapcast_kit_detector", doc)
