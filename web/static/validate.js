// The checkout's field rules, the same ones the server answers with a 422 `fields` map.
// Checking here first saves the customer a round trip; the server still decides.

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

export const LABELS = {
  event: "Event",
  ticket_type: "Ticket",
  quantity: "Quantity",
  email: "E-mail",
  first_name: "First name",
  last_name: "Last name",
  phone: "Phone number",
};

// The server words a field error as a predicate ("is required"): give it its subject.
export function serverMessage(name, message) {
  const text = String(message ?? "");
  return LABELS[name] && /^[a-z]/.test(text) ? `${LABELS[name]} ${text}.` : text;
}

// `maxQuantity` comes from the chosen ticket type's `available` (capped by the page).
export function validate(values, maxQuantity) {
  const errors = {};
  if (!values.event) errors.event = "Choose an event.";
  if (!values.ticket_type) errors.ticket_type = "Choose a ticket.";
  const quantity = Number(values.quantity);
  if (!Number.isInteger(quantity) || quantity < 1) {
    errors.quantity = "Enter how many tickets, 1 or more.";
  } else if (quantity > maxQuantity) {
    errors.quantity = maxQuantity > 0 ? `You can buy up to ${maxQuantity} at once.` : "This ticket is sold out.";
  }
  const email = String(values.email ?? "").trim();
  if (!email) errors.email = "Enter your e-mail address: your tickets are sent there.";
  else if (!EMAIL.test(email) || email.length > 254) errors.email = "This does not look like an e-mail address.";
  for (const [name, label] of [["first_name", "first name"], ["last_name", "last name"]]) {
    const text = String(values[name] ?? "").trim();
    if (!text) errors[name] = `Enter your ${label}.`;
    else if (text.length > MAX_NAME) errors[name] = `Your ${label} is too long (${MAX_NAME} letters at most).`;
    else if (!NAME.test(text)) errors[name] = `Use letters, spaces, hyphens or apostrophes in your ${label}.`;
  }
  if (!String(values.phone ?? "").trim()) {
    errors.phone = "Enter the phone number that pays with M-PESA.";
  } else if (nationalNumber(values.phone) === null) {
    errors.phone = "Enter the 9 digits after +254, for example 712 345 678.";
  }
  return errors;
}
