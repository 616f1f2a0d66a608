// Follows faces across camera frames, so each person keeps one steady box and label: a
// detection joins the track whose predicted box it overlaps most, the box moves by an
// alpha-beta filter (smooth, keeps up with a moving face), and the label is the mean of the
// track's recent gender probabilities, so one odd frame cannot flip it.

const MIN_IOU = 0.1;
const SCORE_FRAMES = 10; // gender probabilities averaged over this many recent frames
const GRACE_MS = 1000; // a face unseen for longer is dropped
const ALPHA = 0.7; // share of a detection's offset from the prediction the box takes
const BETA = 0.5; // share of it that goes into the velocity

function iou(a, b) {
  const width = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const height = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  const inter = Math.max(0, width) * Math.max(0, height);
  return inter / (a.width * a.height + b.width * b.height - inter || 1);
}

const KEYS = ["x", "y", "width", "height"];

function predicted(track, now) {
  const dt = now - track.seenAt;
  return Object.fromEntries(KEYS.map((k) => [k, track.box[k] + track.velocity[k] * dt]));
}

function meanScores(history) {
  const sums = {};
  for (const scores of history) for (const [label, p] of Object.entries(scores)) sums[label] = (sums[label] ?? 0) + p;
  return Object.fromEntries(Object.entries(sums).map(([label, sum]) => [label, sum / history.length]));
}

export class FaceTracker {
  constructor() {
    this.tracks = [];
    this.nextId = 1;
  }

  /**
   * One analysed frame: `faces` as the API returns them (box, scores), `now` in ms.
   * Returns the tracked faces to show, in the API's face shape plus an `id`.
   */
  update(faces, now) {
    const pairs = [];
    this.tracks.forEach((track, t) => {
      const guess = predicted(track, now);
      faces.forEach((face, f) => {
        const overlap = iou(guess, face.box);
        if (overlap >= MIN_IOU) pairs.push({ t, f, overlap });
      });
    });
    pairs.sort((a, b) => b.overlap - a.overlap);
    const trackTaken = new Set();
    const faceTaken = new Set();
    for (const { t, f } of pairs) {
      if (trackTaken.has(t) || faceTaken.has(f)) continue;
      trackTaken.add(t);
      faceTaken.add(f);
      this.#follow(this.tracks[t], faces[f], now);
    }
    faces.forEach((face, f) => {
      if (!faceTaken.has(f)) this.#start(face, now);
    });
    this.tracks = this.tracks.filter((track) => now - track.seenAt <= GRACE_MS);
    return this.faces();
  }

  clear() {
    this.tracks = [];
  }

  faces() {
    return this.tracks.map(({ id, box, scores, gender }) => {
      const rounded = Object.fromEntries(KEYS.map((k) => [k, Math.round(box[k])]));
      return { id, box: rounded, gender, confidence: scores[gender], scores };
    });
  }

  #start(face, now) {
    const velocity = Object.fromEntries(KEYS.map((k) => [k, 0]));
    const track = { id: this.nextId++, box: { ...face.box }, velocity, seenAt: now, history: [], gender: face.gender };
    this.tracks.push(track);
    this.#remember(track, face.scores);
  }

  #follow(track, face, now) {
    const dt = Math.max(1, now - track.seenAt);
    const guess = predicted(track, now);
    for (const k of KEYS) {
      const offset = face.box[k] - guess[k];
      track.box[k] = guess[k] + ALPHA * offset;
      track.velocity[k] += (BETA * offset) / dt;
    }
    track.seenAt = now;
    this.#remember(track, face.scores);
  }

  /** Adds a frame's probabilities; the label changes only when another one's mean is higher. */
  #remember(track, scores) {
    track.history = [...track.history, scores].slice(-SCORE_FRAMES);
    track.scores = meanScores(track.history);
    track.gender = Object.keys(track.scores).reduce((a, b) => (track.scores[b] > track.scores[a] ? b : a), track.gender);
  }
}
