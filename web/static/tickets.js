// One ticket as the customer keeps it: its QR, its type as the catalogue names it, its code,
// and a link that saves the QR as an image (for a gate where the network is poor).

// An older document names a ticket type only by its slug ("early-bird"): say it as words.
function slugWords(slug) {
  const words = String(slug ?? "").replace(/[-_]+/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : "Ticket";
}

export function ticketItem(ticket, index, count) {
  const item = document.createElement("li");
  const name = typeof ticket.ticket_type_name === "string" && ticket.ticket_type_name ? ticket.ticket_type_name : slugWords(ticket.ticket_type);
  const label = count > 1 ? `Ticket ${index + 1} of ${count}: ${name}` : name;
  const kind = document.createElement("p");
  kind.className = "kind";
  kind.textContent = label;
  item.append(kind);
  const url = typeof ticket.qr_url === "string" && /^\/(?!\/)/.test(ticket.qr_url) ? ticket.qr_url : null;
  if (url) {
    const image = document.createElement("img");
    image.src = url;
    image.width = 280;
    image.height = 280;
    image.alt = `QR code of ticket ${ticket.code}`;
    const save = document.createElement("a");
    save.className = "save";
    save.href = url;
    save.download = `ticket-${index + 1}.png`;
    save.textContent = count > 1 ? `Save ticket ${index + 1} as an image` : "Save the ticket as an image";
    image.addEventListener("error", () => {
      const missing = document.createElement("p");
      missing.className = "missing";
      missing.textContent = "The QR code is not ready yet: show the ticket code below, or the one in your e-mail.";
      image.replaceWith(missing);
      save.remove();
    });
    item.append(image, save);
  }
  // The short code is what an attendant types when the QR will not scan: big, on one line.
  if (typeof ticket.short_code === "string" && ticket.short_code) {
    const label = document.createElement("p");
    label.className = "short-code-label";
    label.textContent = "Code to type at the gate";
    const short = document.createElement("p");
    short.className = "short-code";
    short.textContent = ticket.short_code;
    item.append(label, short);
  }
  const code = document.createElement("p");
  code.className = "code";
  code.textContent = ticket.code ?? "";
  item.append(code);
  return item;
}
