// The checkout's field rules, the same ones the server answers with a 422 `fields` map.
// Checking here first saves the customer a round trip; the server still decides.

import { t } from "./i18n.js";

// The same patterns as server/orders/validation.py.
const EMAIL =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
const NAME = /^\p{L}[\p{L}\p{M} '\u2019.-]*$/u;
const PHONE = /^(?:\+?254|0)?([17]\d{8})$/;
const MAX_NAME = 100;
export const MAX_QUANTITY = 10;

// Kenyan mobile numbers: 07XXXXXXXX / 01XXXXXXXX, 2547…/2541…, +2547…/+2541… (API.md),
// and the 9 digits after +254, which is what the field asks for. Returns those 9 digits.
export function nationalNumber(raw) {
  const match = PHONE.exec(String(raw ?? "").replace(/[\s\-().]/g, ""));
  return match ? match[1] : null;
}

// Every key written out whole: tests/test_i18n_catalogues.py finds each t("…") it needs.
export const LABELS = {
  event: t("label.event"),
  ticket_type: t("label.ticket_type"),
  quantity: t("label.quantity"),
  email: t("label.email"),
  first_name: t("label.first_name"),
  last_name: t("label.last_name"),
  phone: t("label.phone"),
};
const NAME_ERRORS = {
  first_name: { required: t("error.firstNameRequired"), tooLong: t("error.firstNameTooLong", { max: MAX_NAME }), letters: t("error.firstNameLetters") },
  last_name: { required: t("error.lastNameRequired"), tooLong: t("error.lastNameTooLong", { max: MAX_NAME }), letters: t("error.lastNameLetters") },
};

// The server words a field error as an English predicate ("is required"): give it its
// subject; in Kiswahili, name the field to look at (the page checked the usual mistakes first).
export function serverMessage(name, message) {
  const text = String(message ?? "");
  return LABELS[name] && /^[a-z]/.test(text) ? t("error.server", { label: LABELS[name], message: text }) : text;
}

// `maxQuantity` comes from the chosen ticket type's `available` (capped by the page).
export function validate(values, maxQuantity) {
  const errors = {};
  if (!values.event) errors.event = t("error.event");
  if (!values.ticket_type) errors.ticket_type = t("error.ticket_type");
  const quantity = Number(values.quantity);
  if (!Number.isInteger(quantity) || quantity < 1) {
    errors.quantity = t("error.quantity");
  } else if (quantity > maxQuantity) {
    errors.quantity = maxQuantity > 0 ? t("error.quantityMax", { max: maxQuantity }) : t("error.soldOut");
  }
  const email = String(values.email ?? "").trim();
  if (!email) errors.email = t("error.emailRequired");
  else if (!EMAIL.test(email) || email.length > 254) errors.email = t("error.emailInvalid");
  for (const name of ["first_name", "last_name"]) {
    const text = String(values[name] ?? "").trim();
    if (!text) errors[name] = NAME_ERRORS[name].required;
    else if (text.length > MAX_NAME) errors[name] = NAME_ERRORS[name].tooLong;
    else if (!NAME.test(text)) errors[name] = NAME_ERRORS[name].letters;
  }
  if (!String(values.phone ?? "").trim()) {
    errors.phone = t("error.phoneRequired");
  } else if (nationalNumber(values.phone) === null) {
    errors.phone = t("error.phoneInvalid");
  }
  return errors;
}
