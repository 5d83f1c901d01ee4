import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { powerLine } from './claims.js';
import { armTable, interval, LAST_STEPS, points } from './format.js';
import type { AblationReport } from './report.js';

/**
 * The Chart.js UMD bundle (`chart.umd.min.js` of the installed `chart.js` package), inlined into report.html so the
 * page works offline. The package's exports map lists no `dist/*` subpath, so the file is found beside its CommonJS
 * entry.
 */
export async function chartJsBundle(): Promise<string> {
  const require = createRequire(import.meta.url);
  const file = join(dirname(require.resolve('chart.js')), 'chart.umd.min.js');
  return readFile(file, 'utf8');
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JSON safe inside a `<script>` element. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/**
 * The page script: builds the charts from the embedded report with Chart.js (no animation), marks each canvas
 * `data-rendered="true"` once Chart.js has drawn it, and the body `data-charts-rendered="true"` once every chart has
 * (`data-charts-error` holds the message if building a chart threw).
 */
const PAGE_SCRIPT = String.raw`
(function () {
  var report = JSON.parse(document.getElementById('ablation-data').textContent);
  var palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  var colour = function (i) { return palette[i % palette.length]; };
  var pct = function (v) { return v === null || v === undefined ? null : 100 * v; };
  var arms = report.arms;
  var labels = arms.map(function (a) { return a.label; });
  var canvases = document.querySelectorAll('canvas[data-chart]');
  var body = document.body;
  body.dataset.chartsTotal = String(canvases.length);
  var rendered = {};
  Chart.register({
    id: 'mmrlRendered',
    afterRender: function (chart) {
      chart.canvas.dataset.rendered = 'true';
      rendered[chart.canvas.id] = true;
      var n = Object.keys(rendered).length;
      body.dataset.chartsCount = String(n);
      if (n === canvases.length) body.dataset.chartsRendered = 'true';
    }
  });
  var common = function (yTitle, xTitle, linear) {
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { position: 'bottom' } },
      scales: {
        x: linear ? { type: 'linear', ticks: { precision: 0 }, title: { display: true, text: xTitle } } : { title: { display: true, text: xTitle } },
        y: { title: { display: true, text: yTitle } }
      }
    };
  };
  var intervalChart = function (id, yTitle, rows) {
    // rows: [{ label, interval: {mean, low, high}, values: [..] }]
    var names = rows.map(function (r) { return r.label; });
    new Chart(document.getElementById(id), {
      type: 'bar',
      data: {
        labels: names,
        datasets: [
          {
            type: 'bar',
            label: (report.confidence * 100).toFixed(0) + '% t-interval',
            data: rows.map(function (r) { return r.interval.low === null ? null : [pct(r.interval.low), pct(r.interval.high)]; }),
            backgroundColor: 'rgba(31, 119, 180, 0.25)',
            borderColor: 'rgba(31, 119, 180, 0.8)',
            borderWidth: 1,
            barPercentage: 0.5
          },
          {
            type: 'line',
            label: 'mean',
            data: rows.map(function (r) { return r.interval.n > 0 ? pct(r.interval.mean) : null; }),
            showLine: false,
            pointStyle: 'rectRot',
            pointRadius: 7,
            backgroundColor: '#d62728',
            borderColor: '#d62728'
          },
          {
            type: 'scatter',
            label: 'seeds',
            data: rows.flatMap(function (r) { return r.values.map(function (v) { return { x: r.label, y: pct(v) }; }); }),
            pointRadius: 3,
            backgroundColor: 'rgba(0, 0, 0, 0.55)'
          }
        ]
      },
      options: common(yTitle, 'arm', false)
    });
  };
  var lineChart = function (id, yTitle, series, scale) {
    new Chart(document.getElementById(id), {
      type: 'line',
      data: {
        datasets: series.map(function (s, i) {
          return {
            label: s.label,
            data: s.points.filter(function (p) { return p.y !== null; }).map(function (p) { return { x: p.x, y: scale ? pct(p.y) : p.y }; }),
            borderColor: colour(i),
            backgroundColor: colour(i),
            pointRadius: s.points.length > 30 ? 0 : 2,
            borderWidth: 2,
            tension: 0
          };
        })
      },
      options: common(yTitle, 'RL step', true)
    });
  };
  try {
    intervalChart('chart-heldout', 'held-out accuracy (%)', arms.map(function (a) {
      return {
        label: a.label,
        interval: a.heldOut,
        values: report.runs
          .filter(function (r) { return r.arm === a.label && r.heldOutAccuracy !== null; })
          .map(function (r) { return r.heldOutAccuracy; })
      };
    }));
    var compared = arms.filter(function (a) { return a.difference; });
    intervalChart('chart-difference', 'Δ held-out accuracy vs ' + report.baseline + ' (points)', compared.map(function (a) {
      return { label: a.label, interval: a.difference, values: a.difference.differences };
    }));
    var curves = function (key) {
      return arms.map(function (a) {
        return { label: a.label, points: a.curves.steps.map(function (s, i) { return { x: s, y: a.curves[key][i] }; }) };
      });
    };
    lineChart('chart-reward', 'mean rollout reward', curves('reward'), false);
    lineChart('chart-accuracy', 'rollout accuracy (%)', curves('accuracy'), true);
    lineChart('chart-heldout-curve', 'held-out accuracy (%)', arms.map(function (a) {
      return { label: a.label, points: a.curves.heldOut.map(function (h) { return { x: h.step, y: h.accuracy }; }) };
    }), true);
  } catch (e) {
    body.dataset.chartsError = String(e && e.message ? e.message : e);
    throw e;
  }
})();
`;

/** The status cell of a run: failed with its reason and error log, or completed (now or earlier). */
function status(r: AblationReport['runs'][number]): string {
  if (r.status === 'failed') return `failed: ${escapeHtml(r.error ?? '')} (<code>${escapeHtml(r.errorLog ?? '')}</code>)`;
  return r.skipped ? 'completed (earlier)' : 'completed';
}

/**
 * report.html: one self-contained page (Chart.js inlined, the report embedded as JSON) with the per-arm table, the
 * held-out accuracy per arm and the paired differences with their t-intervals, the reward and accuracy curves and the
 * held-out accuracy over RL steps, and the runs.
 */
export async function renderHtmlReport(report: AblationReport): Promise<string> {
  const chartJs = (await chartJsBundle()).replace(/<\/script/gi, '<\\/script');
  const [header, ...rows] = armTable(report);
  const table =
    `<table><thead><tr>${header!.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('') +
    '</tbody></table>';
  const runRows = report.runs
    .map(
      (r) =>
        `<tr class="${r.status}"><td>${escapeHtml(r.arm)}</td><td>${r.seed}</td><td><code>${escapeHtml(r.hash)}</code></td>` +
        `<td>${status(r)}</td>` +
        `<td>${r.heldOutAccuracy === null ? '–' : (100 * r.heldOutAccuracy).toFixed(1) + '%'}</td>` +
        `<td><code>${escapeHtml(r.dir)}</code></td></tr>`,
    )
    .join('');
  const level = (report.confidence * 100).toFixed(0);
  const claims =
    report.claims.length === 0
      ? ''
      : `<h2>Claims</h2>
<p>Held-out accuracy of <em>better</em> − <em>worse</em>, paired by seed: <em>reproduced</em> when the ${level}% interval lies
above 0, <em>opposite</em> below 0, <em>inconclusive</em> otherwise. Power at the observed sd of the differences.</p>
<table class="claims"><thead><tr><th>claim</th><th>source</th><th>seeds</th><th>Δ (better − worse)</th><th>${level}% CI of Δ</th><th>verdict</th><th>power</th></tr></thead><tbody>${report.claims
          .map(
            (c) =>
              `<tr class="verdict-${c.verdict}"><td>${escapeHtml(c.better)} &gt; ${escapeHtml(c.worse)}</td>` +
              `<td>${escapeHtml(c.source ?? '–')}</td><td>${c.difference.n}</td>` +
              `<td>${escapeHtml(c.difference.n > 0 ? points(c.difference.mean) : '–')}</td><td>${escapeHtml(interval(c.difference, true))}</td>` +
              `<td data-verdict="${c.verdict}"><strong>${c.verdict}</strong></td><td>${escapeHtml(powerLine(c.power))}</td></tr>`,
          )
          .join('')}</tbody></table>`;
  const chart = (id: string, title: string) =>
    `<section class="chart"><h2>${escapeHtml(title)}</h2><div class="frame"><canvas id="${id}" data-chart="${id}"></canvas></div></section>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Ablation ${escapeHtml(report.name)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 12px 0 24px; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
th { background: #f3f3f3; }
tr.failed td { background: #fde8e8; }
tr.verdict-reproduced td[data-verdict] { background: #e3f4e1; }
tr.verdict-opposite td[data-verdict] { background: #fde8e8; }
tr.verdict-inconclusive td[data-verdict] { background: #f6f1dc; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; }
.frame { position: relative; height: 320px; }
h2 { font-size: 16px; }
code { font-size: 12px; }
</style>
</head>
<body data-charts-rendered="false">
<h1>Ablation ${escapeHtml(report.name)}</h1>
${report.description ? `<p>${escapeHtml(report.description)}</p>` : ''}
<p>Spec <code>${escapeHtml(report.spec)}</code>, base <code>${escapeHtml(report.base)}</code>, seeds ${report.seeds.join(', ')},
baseline arm <code>${escapeHtml(report.baseline)}</code>; ${report.summary.completed} of ${report.summary.runs} runs completed${
    report.summary.failed > 0 ? `, <strong>${report.summary.failed} failed</strong>` : ''
  }. Intervals: ${(report.confidence * 100).toFixed(0)}% Student t over seeds; Δ paired by seed. Reward: mean of the last
${LAST_STEPS} RL steps.${
    report.evaluation.source === 'final-eval'
      ? ` Held-out accuracy: the final checkpoint of each run evaluated on ${report.evaluation.prompts.toLocaleString('en-US')} test prompts (the spec's <code>finalEval</code>); the curve over RL is the runs' own evaluation.`
      : ''
  } Generated ${escapeHtml(report.generatedAt)}.</p>
${table}
${claims}
<div class="charts">
${chart('chart-heldout', 'Held-out accuracy after RL (mean, t-interval, seeds)')}
${chart('chart-difference', `Paired difference to ${report.baseline}`)}
${chart('chart-reward', 'Rollout reward per RL step (mean over seeds)')}
${chart('chart-accuracy', 'Rollout accuracy per RL step (mean over seeds)')}
${chart('chart-heldout-curve', 'Held-out accuracy over RL (mean over seeds)')}
</div>
<h2>Runs</h2>
<table><thead><tr><th>arm</th><th>seed</th><th>hash</th><th>status</th><th>held-out accuracy</th><th>directory</th></tr></thead>
<tbody>${runRows}</tbody></table>
<script type="application/json" id="ablation-data">${scriptJson(report)}</script>
<script>${chartJs}</script>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
