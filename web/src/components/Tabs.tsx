import { type KeyboardEvent, type ReactNode, useId, useRef } from 'react';

export interface TabItem<K extends string> {
  id: K;
  label: ReactNode;
  disabled?: boolean;
}

/** The id of the panel a tab list controls: the tab list and its panel are rendered apart. */
export const tabPanelId = (base: string, id: string) => `${base}-panel-${id}`;
const tabId = (base: string, id: string) => `${base}-tab-${id}`;

/**
 * A WAI-ARIA tab list: one Tab stop (the selected tab), arrows move between the tabs and select
 * (automatic activation: every panel here is cheap to show), Home and End go to the ends.
 * `base` ties the tabs to the panel rendered by <TabPanel>.
 */
export function Tabs<K extends string>(props: {
  base: string;
  label: string;
  items: TabItem<K>[];
  selected: K;
  onSelect: (id: K) => void;
  className?: string;
}) {
  const { base, items, selected, onSelect } = props;
  const list = useRef<HTMLDivElement>(null);
  const enabled = items.filter((i) => !i.disabled);
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const at = enabled.findIndex((i) => i.id === selected);
    const moves: Record<string, number> = {
      ArrowRight: at + 1,
      ArrowLeft: at - 1 + enabled.length,
      Home: 0,
      End: enabled.length - 1,
    };
    if (!(e.key in moves) || enabled.length === 0) return;
    const next = enabled[moves[e.key]! % enabled.length]!;
    e.preventDefault();
    onSelect(next.id);
    list.current?.querySelector<HTMLElement>(`#${CSS.escape(tabId(base, next.id))}`)?.focus();
  };
  return (
    <div ref={list} className={props.className ?? 'tabs'} role="tablist" aria-label={props.label} onKeyDown={onKeyDown}>
      {items.map((i) => (
        <button
          key={i.id}
          id={tabId(base, i.id)}
          type="button"
          role="tab"
          aria-selected={i.id === selected}
          aria-controls={i.id === selected ? tabPanelId(base, i.id) : undefined}
          tabIndex={i.id === selected ? 0 : -1}
          disabled={i.disabled}
          onClick={() => onSelect(i.id)}
        >
          {i.label}
        </button>
      ))}
    </div>
  );
}

/** The panel of a tab (`selected`: the tab it belongs to), labelled by it; `hidden` keeps a panel mounted but out of sight. */
export function TabPanel(props: {
  base: string;
  selected: string;
  children: ReactNode;
  className?: string;
  hidden?: boolean;
}) {
  const { base, selected, children, className, hidden } = props;
  return (
    <div
      id={tabPanelId(base, selected)}
      role="tabpanel"
      aria-labelledby={tabId(base, selected)}
      className={className}
      hidden={hidden}
    >
      {children}
    </div>
  );
}

/** A stable prefix for the ids of one tab list (several may be on a page). */
export const useTabsBase = (): string => `tabs${useId().replace(/[^a-zA-Z0-9_-]/g, '')}`;
