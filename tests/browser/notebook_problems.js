// Everything that can go wrong in a rendered notebook, found in the page itself.
// Called by tests/test_browser.py with the number of mermaid diagrams the notebook holds;
// returns a list of problems in words. It scrolls through the notebook, cell by cell,
// because JupyterLab lays out and draws only what is on screen.
async ({ mermaid }) => {
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const problems = [];
  const say = (text) => problems.push(text);
  const short = (s) => s.replace(/\s+/g, ' ').trim().slice(0, 100);

  // Markdown: every cell rendered, and nothing of its syntax left showing in the prose.
  panel.querySelectorAll('.jp-MarkdownCell').forEach((cell, i) => {
    if (!cell.classList.contains('jp-mod-rendered')) say(`Markdown cell ${i + 1} not rendered`);
  });
  const proseOf = (root) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    let text = '';
    while (walker.nextNode()) {
      const node = walker.currentNode;
      if (!node.parentElement.closest('code, pre, .jp-RenderedMermaid, svg')) {
        text += node.textContent;
      }
    }
    return text;
  };
  panel.querySelectorAll('.jp-RenderedMarkdown').forEach((md) => {
    const text = proseOf(md);
    const fence = text.match(/(```|~~~).{0,60}/);
    if (fence) say(`a code fence shown as text (unclosed?): ${short(fence[0])}`);
    const link = text.match(/\[[^\]\n]+\]\([^)\s]+\)/);
    if (link) say(`a link left unrendered: ${short(link[0])}`);
    const bold = text.match(/(^|\s)\*\*[^*\s][^*]*\*\*/);
    if (bold) say(`bold left unrendered: ${short(bold[0])}`);
  });
  panel.querySelectorAll('mjx-merror, .MathJax_Error').forEach((e) => {
    say(`a maths error: ${short(e.textContent)}`);
  });

  // Mermaid: as many diagrams drawn as the notebook holds, none in error.
  const diagrams = [...panel.querySelectorAll('.jp-RenderedMermaid')];
  for (const d of diagrams) {
    d.scrollIntoView({ block: 'center' });
    const img = d.querySelector('img');
    for (let i = 0; i < 50 && img && !(img.complete && img.naturalWidth > 0); i++) await pause(100);
  }
  const failed = (d) => d.classList.contains('jp-mod-warning');
  diagrams.filter(failed).forEach((d) => say(`a mermaid diagram failed: ${short(d.textContent)}`));
  // JupyterLab draws a diagram as an <img> of SVG (or inline <svg>); an empty one was not drawn.
  const picture = (d) => {
    const img = d.querySelector('img[src^="data:image/svg"]');
    return (img && img.complete && img.naturalWidth > 0) || d.querySelector('svg g');
  };
  const drawn = diagrams.filter((d) => !failed(d) && picture(d));
  if (drawn.length < mermaid) say(`${mermaid} mermaid diagrams, ${drawn.length} drawn`);

  // Widgets: none in error, none still loading.
  const text = panel.textContent;
  if (text.includes('Error displaying widget')) say('"Error displaying widget" in the page');
  if (text.includes('Loading widget')) say('a widget left "Loading widget..."');

  // Content cut off: past the notebook's right edge with nothing to scroll it into view,
  // or text cut short with an ellipsis.
  const outer = panel.querySelector('.jp-WindowedPanel-outer') || panel.querySelector('.jp-Notebook');
  const limit = outer.getBoundingClientRect().left + outer.clientWidth + 1;
  const scrolls = (el, root) => {
    for (let a = el.parentElement; a && a !== root.parentElement; a = a.parentElement) {
      const o = getComputedStyle(a).overflowX;
      if ((o === 'auto' || o === 'scroll') && a.getBoundingClientRect().right <= limit) return true;
    }
    return false;
  };
  const describe = (el) => {
    const css = typeof el.className === 'string' && el.className ? ` class="${el.className}"` : '';
    return `<${el.tagName.toLowerCase()}${css}> "${short(el.textContent).slice(0, 60)}"`;
  };
  const seen = [];
  for (const cell of panel.querySelectorAll('.jp-Cell')) {
    cell.scrollIntoView({ block: 'start' });
    await frame();
    await frame();
    checkCell(cell);
  }
  panel.querySelector('.jp-Cell')?.scrollIntoView({ block: 'start' });
  return problems;

  function checkCell(cell) {
  const roots = cell.querySelectorAll('.jp-OutputArea-output, .jp-MarkdownCell .jp-RenderedHTMLCommon');
  roots.forEach((root) => {
    for (const el of [root, ...root.querySelectorAll('*')]) {
      if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
      if (seen.some((done) => done.contains(el))) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.right > limit && !scrolls(el, root)) {
        say(`cut off at the right edge by ${Math.round(r.right - limit)} px: ${describe(el)}`);
        seen.push(el);
      } else if (getComputedStyle(el).textOverflow === 'ellipsis' && el.scrollWidth > el.clientWidth + 1) {
        say(`text cut short with an ellipsis: ${describe(el)}`);
        seen.push(el);
      }
    }
  });
  }
}
