import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { type Lang, type MsgKey, pickLang, translate, type Vars } from './index.js';

const STORAGE_KEY = 'postier.lang';

interface I18n {
  lang: Lang;
  setLang(lang: Lang): void;
  t(key: MsgKey, vars?: Vars): string;
}

const Ctx = createContext<I18n | null>(null);

/** Holds the UI language, remembered in localStorage across sessions. */
export function LangProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(() =>
    pickLang(localStorage.getItem(STORAGE_KEY), navigator.languages ?? []),
  );
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  const setLang = useCallback((l: Lang) => {
    localStorage.setItem(STORAGE_KEY, l);
    setLangState(l);
  }, []);
  const value = useMemo(
    () => ({ lang, setLang, t: (key: MsgKey, vars?: Vars) => translate(lang, key, vars) }),
    [lang, setLang],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useI18n(): I18n {
  const v = useContext(Ctx);
  if (!v) throw new Error('useI18n outside LangProvider');
  return v;
}

export const useT = () => useI18n().t;
