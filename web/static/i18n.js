// The pages' words in the customer's language: English or Kiswahili.
//
// The server sends each page already in the language the browser asks for (Accept-Language,
// server/languages.py) and says which in <html lang>. A customer who taps the switch keeps
// the other language on this device (localStorage), never in a URL: the page then says its
// marked words (data-i18n) again in that language. Every other string a script shows comes
// from t(key), out of one catalogue per language: web/static/i18n/<code>.json.

export const LANGUAGES = ["en", "sw"];
// For Intl: amounts, dates and times as Kenyans write them in each language.
const LOCALES = { en: "en-KE", sw: "sw-KE" };
const STORE_KEY = "language";

function stored() {
  try {
    const value = window.localStorage.getItem(STORE_KEY);
    return LANGUAGES.includes(value) ? value : null;
  } catch {
    return null; // storage disabled: the browser's own choice stands
  }
}

const served = LANGUAGES.includes(document.documentElement.lang) ? document.documentElement.lang : "en";
export const language = stored() ?? served;
export const locale = LOCALES[language];

// The catalogue comes beside the scripts (the page preloads it); a dropped connection is
// tried again, as a module would be, before the page gives up and shows the keys.
async function load(code) {
  for (let attempt = 0; attempt < 4; attempt += 1) {
    try {
      const response = await fetch(new URL(`./i18n/${code}.json`, import.meta.url));
      if (response.ok) return await response.json();
    } catch {
      // offline for a moment: try again below
    }
    await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
  }
  console.warn("[i18n] no catalogue for", code);
  return {};
}

const words = await load(language);

// The words for `key`, with {name} filled from `values`.
export function t(key, values = {}) {
  const text = words[key];
  if (typeof text !== "string") {
    console.warn("[i18n] no words for", key);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

// An error's `message` from the server is English: shown as it is to an English reader, and
// the catalogue's `key` in any other language.
export function serverWords(message, key, values = {}) {
  return language === "en" && typeof message === "string" && message ? message : t(key, values);
}

// The marked words of the page, in this language (the server wrote them in its own choice).
export function translatePage(root = document) {
  for (const element of root.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const element of root.querySelectorAll("[data-i18n-label]")) {
    element.setAttribute("aria-label", t(element.dataset.i18nLabel));
  }
  document.documentElement.lang = language;
  const other = LANGUAGES.find((code) => code !== language);
  document.getElementById("language-switch")?.setAttribute("lang", other);
}

if (language !== served) translatePage();

// The switch: the other language, kept on this device, and the page again in it.
// `beforeLeaving` keeps what the customer typed (the checkout's form) for the reload.
export function languageSwitch(beforeLeaving = () => {}) {
  const button = document.getElementById("language-switch");
  if (!button) return;
  button.addEventListener("click", () => {
    const other = LANGUAGES.find((code) => code !== language);
    beforeLeaving();
    try {
      window.localStorage.setItem(STORE_KEY, other);
    } catch {
      return; // nowhere to keep the choice: a reload would come back in the same language
    }
    window.location.reload();
  });
}
