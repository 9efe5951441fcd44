/**
 * Whether the windowed list follows the newest entry, and which scrolling is the user's: only the user's
 * scrolling decides whether the view follows; the page's own scrolling is told apart by where it went.
 */
export interface ScrollState {
  /** The view follows the newest entry. */
  readonly stuck: boolean;
  /** The viewport's scrollTop as of the last scroll event or our own change of it. */
  readonly lastTop: number;
  setStuck(value: boolean): void;
  /** Scrolls the viewport; the scroll event that follows is not the user's. */
  setTop(top: number): void;
  /** Forgets the scroll position (the list was emptied). */
  forgetTop(): void;
  /** A scroll event, with the viewport's and the canvas's heights as the view last set them. */
  scrolled(viewportHeight: number, canvasHeight: number): void;
}

export interface ScrollOptions {
  viewport: HTMLElement;
  rowHeight: number;
  onStickChange(stuck: boolean): void;
  onNearTop(): void;
}

export function createScrollState({
  viewport,
  rowHeight,
  onStickChange,
  onNearTop,
}: ScrollOptions): ScrollState {
  let stuck = true;
  let lastTop = 0;
  /** Where we last scrolled to ourselves. */
  let ownTop = -1;
  const setStuck = (value: boolean) => {
    if (value === stuck) return;
    stuck = value;
    onStickChange(value);
  };
  return {
    get stuck() {
      return stuck;
    },
    get lastTop() {
      return lastTop;
    },
    setStuck,
    setTop(top) {
      viewport.scrollTop = top;
      lastTop = viewport.scrollTop;
      ownTop = lastTop;
    },
    forgetTop() {
      lastTop = 0;
    },
    scrolled(viewportHeight, canvasHeight) {
      const top = viewport.scrollTop;
      const own = Math.abs(top - ownTop) < 1;
      ownTop = -1;
      const atBottom = top + viewportHeight >= canvasHeight - 4;
      if (!own) setStuck(atBottom);
      if (!own && !atBottom && top < lastTop && top < rowHeight * 5) onNearTop();
      lastTop = top;
    },
  };
}
