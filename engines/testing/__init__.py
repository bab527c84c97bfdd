"""SwapCast's generated test kit: tiny ONNX models with insightface's contracts that *behave*.

`write_kit` (in `kit.py`) writes a detector, recognizer, swapper (fp32 and fp16) and enhancer that
understand the synthetic faces drawn by `synthetic_face.py`, plus sample images and a video, so the
real processing path can be tested end to end without the real (non-redistributable) weights.
"""
