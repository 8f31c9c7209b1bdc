"""The ParNet-vs-Darknet53 study end to end in --tiny mode: tiny widths,
64 px, one round, a few training iterations of mmdet's train.py and one
test.py per model; it writes the table, results.json and the plots."""
import json
import re

import pytest

from tests.utils import run

TOOL = 'tools/analysis_tools/benchmark_parnet_vs_darknet.py'
DETECTORS = ('ParNet-S', 'ParNet-M', 'ParNet-L', 'ParNet-XL',
             'Darknet53 twin', 'YOLOv3-D53 (mmdet)')
FORMS = ('training form', 'deployed', 'deployed, channels-last')
PLOTS = ('latency_vs_params.png', 'latency_vs_map.png',
         'training_curves.png')


@pytest.fixture(scope='module')
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp('study')
    result = run([TOOL, '--tiny', '--work-dir', out], timeout=600)
    return out, result.stdout


def section(text: str, title: str) -> str:
    """The markdown of the section whose heading starts with ``title``."""
    match = re.search(rf'^## {re.escape(title)}.*?(?=^## |\Z)', text,
                      re.S | re.M)
    assert match, f'no section {title!r} in:\n{text}'
    return match.group(0)


def rows(text: str) -> list:
    return [[c.strip() for c in line.strip('|').split('|')]
            for line in text.splitlines()
            if line.startswith('| ') and not line.startswith('| detector')
            and not line.startswith('| backbone |')
            and not line.startswith('| target |')]


def test_table_is_printed_and_written(study):
    out, stdout = study
    table = (out / 'comparison.md').read_text()
    assert table.strip() in stdout
    for plot in PLOTS:
        assert (out / plot).stat().st_size > 10_000, plot
    results = json.loads((out / 'results.json').read_text())
    assert set(results['architecture']) == set(DETECTORS)


def test_depth_and_complexity_rows(study):
    out, _ = study
    table = section((out / 'comparison.md').read_text(), 'Architecture')
    depth = {r[0]: (int(r[1]), int(r[2])) for r in rows(table)}
    assert set(depth) == set(DETECTORS)
    for name in DETECTORS[:4]:
        assert depth[name] == (12, 11)
    for name in DETECTORS[4:]:
        assert depth[name] == (53, 52)


def test_latency_rows(study):
    out, _ = study
    text = (out / 'comparison.md').read_text()
    table = rows(section(text, 'Latency, batch 1, COCO'))
    seen = {(r[0], r[1]) for r in table}
    assert {(d, f) for d in DETECTORS for f in FORMS} <= seen
    twin = [r for r in table if r[0] == 'Darknet53 twin']
    assert all(r[3] == '1.00x' and r[5] == '1.00x' for r in twin)
    for r in table:
        if r[1] in FORMS:  # eager rows: backbone and detector timed
            assert float(r[2]) > 0 and float(r[4]) > 0
    fast = [r for r in table if r[1] == FORMS[2]]
    assert all(float(r[6]) > 0 for r in fast)  # end to end
    shapes = rows(section(text, 'Latency, batch 1, shapes'))
    assert {r[0] for r in shapes} == {'ParNet-S', 'Darknet53 twin'}


def test_streams_throughput_and_accuracy_rows(study):
    out, _ = study
    text = (out / 'comparison.md').read_text()
    streams = rows(section(text, 'ParNet streams'))
    assert {r[0] for r in streams} == set(DETECTORS[:4])
    assert re.search(r'Concurrent streams were faster by more than 5% in '
                     r'\d+ of 4 cases \(best \d\.\d\dx\)',
                     text)
    throughput = rows(section(text, 'Training throughput'))
    assert {r[0] for r in throughput} == set(DETECTORS)
    assert all(float(r[3]) > 0 for r in throughput)
    accuracy = rows(section(text, 'Held-out mAP'))
    assert [r[0] for r in accuracy] == ['ParNet-S', 'Darknet53 twin']
    for r in accuracy:
        assert int(r[2]) >= 2  # iterations
        assert re.fullmatch(r'-?\d\.\d{3} ± \d\.\d{3}', r[4])


def test_targets_section(study):
    out, _ = study
    table = rows(section((out / 'comparison.md').read_text(), 'Targets'))
    assert [r[0] for r in table] == [
        'deployed ParNet-S backbone, its fastest path <= 0.5x the twin',
        'ParNet-S-YOLOv4 detector, eager PyTorch deployed <= 0.75x the twin',
        'ParNet-S-YOLOv4 detector, fastest engine <= 0.75x the twin',
        'equal-budget held-out mAP, ParNet-S >= the twin']
    assert all(r[-1] in ('yes', 'no', '—') for r in table)
    assert table[0][-1] in ('yes', 'no')  # eager rows at least


def test_report_only_renders_the_same_table(study):
    out, _ = study
    before = (out / 'comparison.md').read_text()
    (out / 'latency_vs_map.png').unlink()
    run([TOOL, '--report-only', '--work-dir', out])
    assert (out / 'comparison.md').read_text() == before
    assert (out / 'latency_vs_map.png').stat().st_size > 10_000


def test_reuse_skipped_keeps_the_earlier_parts(study):
    out, _ = study
    before = (out / 'comparison.md').read_text()
    run([TOOL, '--tiny', '--work-dir', out, '--reuse-skipped',
         '--skip-latency', '--skip-streams', '--skip-throughput',
         '--skip-training'])
    after = (out / 'comparison.md').read_text()
    for title in ('Latency, batch 1, COCO', 'ParNet streams',
                  'Training throughput', 'Held-out mAP'):
        assert section(after, title).split('\n- ')[0] == section(
            before, title).split('\n- ')[0]
    assert 'Not measured by this command: latency, streams, throughput, ' \
        'training, reused from the earlier run' in after
