// Follows faces across camera frames, so that each box stays on its own person and shows that
// person's label:
// - a detection continues a track only if it overlaps the box the track's motion predicts for
//   the moment the frame was taken and is of about its size; a detection sure of the other
//   label than a sure track, or one the API is sure of where an uncertain track is, does not
//   silently join it (maybe a new person in the same place: see #contest);
// - the label is the mean of the track's recent gender probabilities, each frame weighted by
//   how sure it was, so one odd frame cannot flip it and two people are never mixed;
// - only tracks in the latest answer are live; a track that was not is shown faintly for that
//   one answer, then hidden, and kept a little longer so a face that comes back rejoins it;
// - between answers, boxes are moved to where their velocity says the face is now.

const MIN_IOU = 0.3;
const SCORE_FRAMES = 10; // gender probabilities averaged over this many recent frames
const KEEP_MS = 1000; // an unseen track is kept this long for a face that comes back
const MAX_PREDICT_MS = 500; // motion is extrapolated this far at most
const ALPHA = 0.7; // share of a detection's offset from the prediction the box takes
const BETA = 0.5; // share of it that goes into the velocity
const SURE_DETECTION = 0.9; // a detection this sure of one label...
const SURE_TRACK = 0.8; // ...against a track this sure of the other disagrees strongly
const MAX_SIZE_RATIO = 1.5; // a face's box does not grow or shrink more than this between answers (HOG's steps: 1.2)

export function iou(a, b) {
  const width = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const height = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  const inter = Math.max(0, width) * Math.max(0, height);
  return inter / (a.width * a.height + b.width * b.height - inter || 1);
}

const KEYS = ["x", "y", "width", "height"];

function predicted(track, now) {
  const dt = Math.min(Math.max(0, now - track.seenAt), MAX_PREDICT_MS);
  return Object.fromEntries(KEYS.map((k) => [k, track.box[k] + track.velocity[k] * dt]));
}

function topLabel(scores) {
  return Object.keys(scores).reduce((a, b) => (scores[b] > scores[a] ? b : a));
}

/** The mean of the frames' probabilities, each frame weighted by its confidence. */
function weightedMean(history) {
  const sums = {};
  let total = 0;
  for (const scores of history) {
    const w = Math.max(...Object.values(scores));
    total += w;
    for (const [label, p] of Object.entries(scores)) sums[label] = (sums[label] ?? 0) + w * p;
  }
  return Object.fromEntries(Object.entries(sums).map(([label, sum]) => [label, sum / total]));
}

function aboutAsLarge(a, b) {
  return ["width", "height"].every((k) => Math.max(a[k], b[k]) <= MAX_SIZE_RATIO * Math.min(a[k], b[k]));
}

export class FaceTracker {
  constructor() {
    this.tracks = [];
    this.nextId = 1;
    this.answer = 0;
    this.minConfidence = null;
  }

  /**
   * One answer: `faces` as the API returns them (box, scores), `takenAt` (ms) when its frame
   * was grabbed, `minConfidence` the API's threshold for a sure label (null: none), `answer`
   * its number (the caller's count of requests: answers it dropped are skipped, after clear()).
   * Returns the faces to show at `takenAt` (see faces()).
   */
  update(faces, takenAt, minConfidence = null, answer = this.answer + 1) {
    this.answer = answer;
    this.minConfidence = minConfidence;
    const pairs = [];
    this.tracks.forEach((track, t) => {
      const guess = predicted(track, takenAt);
      faces.forEach((face, f) => {
        const overlap = iou(guess, face.box);
        if (overlap >= MIN_IOU && aboutAsLarge(guess, face.box)) pairs.push({ t, f, overlap, agrees: !this.#disagrees(track, face) });
      });
    });
    // agreeing pairs first: two people crossing keep their own tracks
    pairs.sort((a, b) => b.agrees - a.agrees || b.overlap - a.overlap);
    const trackTaken = new Set();
    const faceTaken = new Set();
    for (const { t, f, agrees } of pairs) {
      if (trackTaken.has(t) || faceTaken.has(f)) continue;
      trackTaken.add(t);
      faceTaken.add(f);
      if (agrees) this.#follow(this.tracks[t], faces[f], takenAt);
      else this.#contest(this.tracks[t], faces[f], takenAt);
    }
    faces.forEach((face, f) => {
      if (!faceTaken.has(f)) this.#start(face, takenAt, []);
    });
    this.tracks = this.tracks.filter((track) => takenAt - track.seenAt <= KEEP_MS);
    return this.faces(takenAt);
  }

  /** Forgets every track: after a cut, no face in the new scene continues one from the old. */
  clear() {
    this.tracks = [];
  }

  /**
   * The faces to draw at time `now` (ms): those in the latest answer (`live`), at the box
   * their motion predicts for `now`, and those only in the one before (`live: false`, to be
   * drawn faintly), where they were last seen. `uncertain`: below minConfidence, `contested`,
   * or flagged by the API as a likely child in its latest answer for the track. `answer`: the
   * number of the answer that last saw the face.
   */
  faces(now) {
    return this.tracks
      .filter((track) => track.answer >= this.answer - 1)
      .map((track) => {
        const live = track.answer === this.answer;
        const box = live ? predicted(track, now) : track.box;
        const rounded = Object.fromEntries(KEYS.map((k) => [k, Math.round(box[k])]));
        const confidence = track.scores[track.gender];
        const contested = Boolean(track.challenger); // see #contest
        const uncertain = contested || this.#unsure(track);
        return { id: track.id, answer: track.answer, box: rounded, gender: track.gender, confidence, scores: track.scores, uncertain, contested, live };
      });
  }

  /** Below the API's threshold, or flagged by it as a likely child in its latest answer for the track. */
  #unsure(track) {
    return track.likelyChild || this.#belowThreshold(track);
  }

  #belowThreshold(track) {
    return this.minConfidence !== null && track.scores[track.gender] < this.minConfidence;
  }

  /** The API's own verdict: at or above its threshold and not flagged uncertain. */
  #sure(face) {
    return this.minConfidence !== null && !face.uncertain && Math.max(...Object.values(face.scores)) >= this.minConfidence;
  }

  /**
   * Sure of the other label than a sure track, or sure where the track is below the threshold:
   * maybe a new person where the track's was (a track below it would otherwise take in anyone).
   */
  #disagrees(track, face) {
    const label = topLabel(face.scores);
    const strongly = label !== track.gender && face.scores[label] >= SURE_DETECTION && track.scores[track.gender] >= SURE_TRACK;
    return strongly || (this.#belowThreshold(track) && this.#sure(face));
  }

  #start(face, takenAt, history) {
    const velocity = Object.fromEntries(KEYS.map((k) => [k, 0]));
    const track = { id: this.nextId++, box: { ...face.box }, velocity, seenAt: takenAt, answer: this.answer, history };
    this.tracks.push(track);
    this.#flagChild(track, face);
    this.#remember(track, face.scores);
  }

  #move(track, face, takenAt) {
    const dt = Math.max(1, takenAt - track.seenAt);
    const guess = predicted(track, takenAt);
    for (const k of KEYS) {
      const offset = face.box[k] - guess[k];
      track.box[k] = guess[k] + ALPHA * offset;
      // after a gap the offset is mostly the prediction's error, not motion
      track.velocity[k] = dt > MAX_PREDICT_MS ? 0 : track.velocity[k] + (BETA * offset) / dt;
    }
    track.seenAt = takenAt;
    track.answer = this.answer;
  }

  #follow(track, face, takenAt) {
    this.#move(track, face, takenAt);
    this.#flagChild(track, face);
    // a strong disagreement the track kept out turned out to be this person's odd frame
    if (track.challenger) this.#remember(track, track.challenger);
    track.challenger = null;
    this.#remember(track, face.scores);
  }

  /**
   * A detection that disagrees with the track (#disagrees). Once may be the model's odd
   * frame: the box follows, the label holds but is shown as uncertain. Twice in a row is
   * another person: the track is replaced by a new one that starts from these two frames alone.
   */
  #contest(track, face, takenAt) {
    if (track.challenger && topLabel(track.challenger) === topLabel(face.scores)) {
      track.seenAt = -Infinity; // dropped at the end of update()
      this.#start(face, takenAt, [track.challenger]);
      return;
    }
    this.#move(track, face, takenAt);
    this.#flagChild(track, face);
    track.challenger = face.scores;
  }

  /** The API's child flag counts where it made the face uncertain (not at min_confidence 0.5). */
  #flagChild(track, face) {
    track.likelyChild = Boolean(face.likely_child && face.uncertain);
  }

  /** Adds a frame's probabilities; the label changes only when another one's mean is higher. */
  #remember(track, scores) {
    track.history = [...track.history, scores].slice(-SCORE_FRAMES);
    track.scores = weightedMean(track.history);
    track.gender = topLabel(track.scores);
  }
}
