/** Every PromQL expression the dashboard and the rule files hold, with where it comes from. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const DASHBOARDS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DASHBOARD_FILE = join(DASHBOARDS_DIR, 'grafana', 'archibald-realtime.json');
export const PROMETHEUS_DIR = join(DASHBOARDS_DIR, 'prometheus');
export const PROMETHEUS_CONFIG = join(PROMETHEUS_DIR, 'prometheus.yml');
export const ALERTS_TEST_FILE = join(PROMETHEUS_DIR, 'alerts.test.yml');

export interface Target {
  refId: string;
  expr: string;
  legendFormat?: string;
}
export interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  fieldConfig?: { defaults?: { unit?: string } };
  targets?: Target[];
  panels?: Panel[];
}
export interface Variable {
  type: string;
  name: string;
  query: string | { query: string };
  datasource?: { type: string; uid: string };
  allValue?: string;
}
export interface Dashboard {
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

export function loadDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
}

/** Panels with queries, rows flattened (a collapsed row holds its panels in `panels`). */
export function queryPanels(d: Dashboard): Panel[] {
  const out: Panel[] = [];
  for (const p of d.panels) {
    if (p.type === 'row') out.push(...(p.panels ?? []));
    else out.push(p);
  }
  return out;
}

export interface Query {
  where: string;
  expr: string;
}

export function panelQueries(d: Dashboard): Query[] {
  return queryPanels(d).flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr })));
}

export function variableQuery(v: Variable): string {
  return typeof v.query === 'string' ? v.query : v.query.query;
}

export interface Rule {
  group: string;
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function ruleFiles(): string[] {
  const config = parse(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as { rule_files: string[] };
  return config.rule_files.map((f) => join(PROMETHEUS_DIR, f));
}

export function loadRules(): Rule[] {
  return ruleFiles().flatMap((file) => {
    const doc = parse(readFileSync(file, 'utf8')) as { groups: { name: string; rules: Omit<Rule, 'group'>[] }[] };
    return doc.groups.flatMap((g) => g.rules.map((r) => ({ ...r, group: g.name })));
  });
}

export function ruleQueries(rules: Rule[]): Query[] {
  return rules.map((r) => ({ where: r.alert ? `alert ${r.alert}` : `record ${r.record}`, expr: r.expr }));
}
