"""iRoop (iRoopDeepFaceCam, a Deep-Live-Cam derivative) through its CLI: `python run.py -s -t -o …`.

Read from its public repositories (docs/ENGINES.md says which files): the upstream
iVideoGameBoss/iRoopDeepFaceCam 1.3.0 documents the same entry script, `--execution-provider` and
`--execution-threads`; the parse_args of its modules/core.py (read in the AVGR-Labs fork) keeps
Deep-Live-Cam's flags unchanged (-s/-t/-o, --frame-processor, --keep-fps, --keep-audio, --many-faces,
--video-encoder, --video-quality) and adds its own (--both-faces, --mouth-mask, --face-tracking,
-sf/-tf folder modes), which SwapCast does not use. It reports through the same "[DLC.CORE] …" lines
and exits 0 when it refuses its inputs, so Deep-Live-Cam's adapter serves it with its own install check.
"""

from __future__ import annotations

from .deep_live_cam import DEEP_LIVE_CAM_INSTALL, DeepLiveCamAdapter
from .install import InstallSpec

IROOP_INSTALL = InstallSpec(
    product="iRoopDeepFaceCam",
    entry=DEEP_LIVE_CAM_INSTALL.entry,  # run.py
    metadata=DEEP_LIVE_CAM_INSTALL.metadata,  # modules/metadata.py: name = 'iRoopDeepFaceCam', version = …
    version_pattern=DEEP_LIVE_CAM_INSTALL.version_pattern,
    min_version="1.0",
    min_version_why="its -s/-t/-o command line",
    min_python=(3, 9),
)


class IRoopAdapter(DeepLiveCamAdapter):
    install_spec = IROOP_INSTALL
