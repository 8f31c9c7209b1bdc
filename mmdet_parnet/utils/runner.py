"""What ``tools/train.py`` and ``tools/test.py`` share: the common arguments,
loading the config with them, and building the runner (CPU distributed
included)."""
import argparse
import os
import os.path as osp
from typing import Tuple

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .distributed import prepare_cpu_distributed


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """--work-dir, --cfg-options, --launcher and --local_rank, as mmdet's."""
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """The config of ``args.config`` with the common arguments applied."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def parse_args_and_config(
        parser: argparse.ArgumentParser) -> Tuple[argparse.Namespace, Config]:
    """Add the common arguments to a tool's ``parser``, parse the command
    line and load the config it names."""
    add_common_args(parser)
    args = parser.parse_args()
    return args, load_config(args)


def build_runner(cfg: Config) -> Runner:
    """The runner of ``cfg``, after the CPU-only distributed set-up."""
    prepare_cpu_distributed(cfg)
    return (Runner.from_cfg(cfg) if 'runner_type' not in cfg else
            RUNNERS.build(cfg))
