// Live parts of a page: each [data-live] element takes the HTML fragments
// its event stream sends. Without JavaScript the pages still work; reload
// to see changes.
for (const el of document.querySelectorAll("[data-live]")) {
  const events = new EventSource(el.dataset.live);
  events.addEventListener("update", (e) => {
    // Keep keyboard focus on the same button across an update.
    const focused = document.activeElement && document.activeElement.id;
    el.innerHTML = e.data;
    if (focused) {
      const again = document.getElementById(focused);
      if (again) again.focus();
    }
  });
  events.addEventListener("problem", (e) => {
    el.setAttribute("data-problem", e.data);
  });
}
