// Draws a workflow template's DAG as SVG: nodes in layers by longest path from the roots, coloured by
// their latest step status; nodes are buttons (Enter/Space or click selects one).
import { type KeyboardEvent, useMemo } from 'react';

export interface DagNode {
  id: string;
  type: string;
  status: string | undefined;
  attempts: number;
}

const W = 168;
const H = 50;
const GX = 56;
const GY = 18;

const FILL: Record<string, string> = {
  succeeded: '#e6f4ea',
  running: '#e8f0fe',
  waiting: '#fff4d6',
  pending: '#f1f3f4',
  failed: '#fce8e6',
  cancelled: '#eceff3',
  skipped: '#eceff3',
};
const STROKE: Record<string, string> = {
  succeeded: '#137333',
  running: '#245fd6',
  waiting: '#8a5a00',
  failed: '#b3261e',
};

export function layout(nodes: { id: string }[], edges: { from: string; to: string }[]) {
  const layer = new Map<string, number>(nodes.map((n) => [n.id, 0]));
  // Longest-path layering; bounded by node count so a bad template cannot loop forever.
  for (let i = 0; i < nodes.length; i++) {
    let changed = false;
    for (const e of edges) {
      const next = (layer.get(e.from) ?? 0) + 1;
      if (layer.has(e.to) && next > (layer.get(e.to) ?? 0)) {
        layer.set(e.to, next);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const rows = new Map<number, number>();
  const pos = new Map<string, { x: number; y: number }>();
  for (const n of nodes) {
    const l = layer.get(n.id) ?? 0;
    const r = rows.get(l) ?? 0;
    rows.set(l, r + 1);
    pos.set(n.id, { x: 8 + l * (W + GX), y: 8 + r * (H + GY) });
  }
  const width = 16 + (Math.max(0, ...layer.values()) + 1) * (W + GX) - GX;
  const height = 16 + Math.max(1, ...rows.values()) * (H + GY) - GY;
  return { pos, width, height };
}

export function Dag({
  nodes,
  edges,
  selected,
  onSelect,
}: {
  nodes: DagNode[];
  edges: { from: string; to: string }[];
  selected: string | undefined;
  onSelect: (id: string) => void;
}) {
  const { pos, width, height } = useMemo(() => layout(nodes, edges), [nodes, edges]);
  const key = (id: string) => (e: KeyboardEvent) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      onSelect(id);
    }
  };
  return (
    <section className="dag" aria-label="Workflow steps">
      <svg width={width} height={height} aria-labelledby="dag-title">
        <title id="dag-title">Workflow steps and their dependencies</title>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#8a93a0" />
          </marker>
        </defs>
        {edges.map((e) => {
          const a = pos.get(e.from);
          const b = pos.get(e.to);
          if (!a || !b) return null;
          const x1 = a.x + W;
          const y1 = a.y + H / 2;
          const x2 = b.x;
          const y2 = b.y + H / 2;
          const mx = (x1 + x2) / 2;
          return (
            <path
              key={`${e.from}-${e.to}`}
              d={`M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`}
              fill="none"
              stroke="#8a93a0"
              strokeWidth="1.5"
              markerEnd="url(#arrow)"
            />
          );
        })}
        {nodes.map((n) => {
          const p = pos.get(n.id);
          if (!p) return null;
          const status = n.status ?? 'not started';
          const shown = n.id.length > 22 ? `${n.id.slice(0, 21)}…` : n.id;
          return (
            // biome-ignore lint/a11y/useSemanticElements: an SVG group cannot be a <button>; role and keys make it one
            <g
              key={n.id}
              className="node"
              transform={`translate(${p.x},${p.y})`}
              role="button"
              tabIndex={0}
              aria-pressed={selected === n.id}
              // No aria-label: the name is the visible text (id, type, status), so speech and sight agree.
              data-testid={`dag-node-${n.id}`}
              onClick={() => onSelect(n.id)}
              onKeyDown={key(n.id)}
            >
              <rect
                width={W}
                height={H}
                rx="6"
                fill={FILL[n.status ?? ''] ?? '#ffffff'}
                stroke={selected === n.id ? '#245fd6' : (STROKE[n.status ?? ''] ?? '#a0a7b1')}
                strokeWidth={selected === n.id ? 3 : 1.5}
              />
              <text x="10" y="20" fontWeight="600" fill="#1a1d23">
                {`${shown} `}
              </text>
              <text x="10" y="38" fill="#4a5260">
                {n.type} · {status}
                {n.attempts > 1 ? ` · ×${n.attempts}` : ''}
              </text>
            </g>
          );
        })}
      </svg>
    </section>
  );
}
