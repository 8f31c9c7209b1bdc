"""Image inference through a deployment backend, writing what
``tools/infer.py`` writes for the PyTorch model (mmdet's ``DetInferencer``
layout): ``OUT_DIR/vis/<image>`` drawn by mmdet's visualizer and
``OUT_DIR/preds/<image stem>.json`` with ``labels``, ``scores`` and
``bboxes`` (xyxy, original image pixels)."""
import copy
import json
import time
from pathlib import Path
from typing import List, Optional, Sequence

import mmcv
from mmdet.registry import DATASETS, VISUALIZERS

from .runtime import DeployedDetector


def dataset_meta(cfg) -> dict:
    """Class names (and palette) of the config's test set."""
    ds_cfg = cfg.test_dataloader.dataset
    meta = dict(copy.deepcopy(DATASETS.get(ds_cfg['type']).METAINFO))
    meta.update(ds_cfg.get('metainfo') or {})
    if 'palette' in meta and len(meta['palette']) < len(meta['classes']):
        meta.pop('palette')
    return meta


def run_deployed_inference(config: str,
                           model_file: str,
                           images: Sequence[str],
                           backend: str = 'onnxruntime',
                           precision: str = 'fp32',
                           out_dir: str = 'outputs/infer',
                           score_thr: float = 0.3,
                           threads: Optional[int] = None,
                           batch_size: int = 1) -> List:
    """Detect on ``images`` with ``model_file`` run by ``backend``; write
    the annotated images and JSON predictions under ``out_dir``. Returns
    the ``DetDataSample``\\ s."""
    detector = DeployedDetector(model_file, config, backend=backend,
                                precision=precision, threads=threads)
    print(f'{detector.backend.name}: {model_file}, running '
          f'{detector.precision}')
    vis_cfg = copy.deepcopy(detector.cfg.visualizer)
    vis_cfg.update(name=f'deployed_inference_{time.time_ns()}',
                   vis_backends=None, save_dir=None)
    visualizer = VISUALIZERS.build(vis_cfg)
    visualizer.dataset_meta = dataset_meta(detector.cfg)
    out = Path(out_dir)
    (out / 'preds').mkdir(parents=True, exist_ok=True)
    (out / 'vis').mkdir(parents=True, exist_ok=True)
    results = []
    for start in range(0, len(images), batch_size):
        batch = list(images[start:start + batch_size])
        for path, sample in zip(batch, detector.predict(batch, batch_size)):
            pred = sample.pred_instances.numpy()
            (out / 'preds' / f'{Path(path).stem}.json').write_text(
                json.dumps(dict(labels=pred.labels.tolist(),
                                scores=pred.scores.tolist(),
                                bboxes=pred.bboxes.tolist())))
            image = mmcv.imread(path, channel_order='rgb')
            visualizer.add_datasample(
                Path(path).name, image, sample, draw_gt=False,
                pred_score_thr=score_thr,
                out_file=str(out / 'vis' / Path(path).name))
            results.append(sample)
    return results
