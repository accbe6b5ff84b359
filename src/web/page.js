// Filters as one types (the server does the same from the query string), and a refresh in
// place every few seconds that keeps what the reader opened, closed and focused.
(() => {
  const form = document.getElementById("filters");
  const search = document.getElementById("q");

  function apply() {
    const show = form.elements.show.value || "all";
    const words = search.value.trim().toLowerCase();
    let shown = 0;
    const objects = document.querySelectorAll("li.object");
    for (const object of objects) {
      const groups = object.dataset.groups.split(" ");
      const match = (show === "all" || groups.includes(show)) && object.dataset.search.includes(words);
      object.hidden = !match;
      if (match) shown += 1;
    }
    const count = document.getElementById("shown-count");
    if (count) count.textContent = `Showing ${shown} of ${objects.length}`;
    const query = new URLSearchParams();
    if (show !== "all") query.set("show", show);
    if (words) query.set("q", search.value.trim());
    const text = query.toString();
    history.replaceState(null, "", text ? `?${text}` : location.pathname);
  }

  form.addEventListener("input", apply);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
  form.querySelector(".apply").hidden = true;

  // Only what the reader toggled (a click, or Enter or Space on a summary) is kept.
  const toggled = new Map();
  document.addEventListener("click", (event) => {
    const summary = event.target.closest("summary");
    if (!summary) return;
    const details = summary.parentElement;
    setTimeout(() => toggled.set(details.id, details.open));
  });

  async function refresh() {
    try {
      const response = await fetch(location.href, { cache: "no-store" });
      if (response.ok) {
        const next = new DOMParser().parseFromString(await response.text(), "text/html");
        const focused = document.activeElement?.closest("details")?.id;
        document.getElementById("main").replaceWith(next.getElementById("main"));
        for (const [id, open] of toggled) {
          const details = document.getElementById(id);
          if (details) details.open = open;
        }
        for (const count of document.querySelectorAll(".count")) {
          const fresh = next.getElementById(count.id);
          if (fresh) count.textContent = fresh.textContent;
        }
        document.title = next.title;
        if (focused) document.getElementById(focused)?.querySelector("summary")?.focus();
        apply();
      }
    } catch {
      // The controller is restarting: the next refresh will tell.
    }
    setTimeout(refresh, 3000);
  }
  setTimeout(refresh, 3000);
})();
