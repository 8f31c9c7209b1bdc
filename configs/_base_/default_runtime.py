# mmdet's runtime (default hooks, logging, visualiser) plus this package:
# custom_imports loads mmdet_parnet, so that mmdet's own tools/train.py,
# tools/test.py and DetInferencer find ParNet and the YOLOv4 neck and head.
_base_ = 'mmdet::_base_/default_runtime.py'

custom_imports = dict(imports=['mmdet_parnet'], allow_failed_imports=False)
