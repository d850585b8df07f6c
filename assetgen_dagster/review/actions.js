// Added to the review page by `assetgen-dagster review` (not in the pack's own index.html): a pick and a
// re-roll button on every candidate, sent to the server with the token it issued with the page; the
// page reloads when a new pack is published (after the run the picks file triggers).
(() => {
  const token = document.querySelector('meta[name="assetgen-token"]').content;
  const status = document.createElement("div");
  status.id = "assetgen-status";
  status.textContent = "review server: pick or re-roll a candidate";
  document.body.prepend(status);

  async function act(action, item, variant) {
    status.textContent = `${action} ${item} v${variant}...`;
    const response = await fetch(`/_assetgen/${action}`, {
      method: "POST",
      headers: {"Content-Type": "application/json", "X-Assetgen-Token": token},
      body: JSON.stringify({item, variant: Number(variant)}),
    });
    const answer = await response.json();
    status.textContent = response.ok ? `${action} ${item} v${variant} saved: the page reloads when the run has published the pack`
                                     : `refused (${response.status}): ${answer.error}`;
    status.dataset.state = response.ok ? "saved" : "refused";
  }

  for (const candidate of document.querySelectorAll(".candidate")) {
    const {item, variant} = candidate.dataset;
    for (const [action, label] of [["pick", "pick"], ["reroll", "re-roll"]]) {
      const button = document.createElement("button");
      Object.assign(button.dataset, {action, item, variant});
      button.textContent = label;
      button.addEventListener("click", () => act(action, item, variant));
      candidate.append(button);
    }
  }

  // A long poll: the server answers as soon as the pack's version differs from the one shown (or
  // after 20 s with the same one); a stopped server is asked again every second.
  (async () => {
    let version = null;
    for (;;) {
      try {
        const since = version === null ? "" : `?since=${encodeURIComponent(version)}`;
        const response = await fetch(`/_assetgen/state${since}`, {cache: "no-store"});
        const state = await response.json();
        if (version !== null && state.version !== version) {
          location.reload();
          return;
        }
        version = state.version;
      } catch (error) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  })();
})();
