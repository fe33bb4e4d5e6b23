//! Draws the pending count into the tray icon's pixels. Linux (AppIndicator) and
//! Windows trays show no text next to the icon, so the number has to be in the image.

/// 3x5 bitmap glyphs for `0`-`9` and `+`, one row per byte (bit 2 = left column).
const GLYPHS: [[u8; 5]; 11] = [
    [0b111, 0b101, 0b101, 0b101, 0b111], // 0
    [0b010, 0b110, 0b010, 0b010, 0b111], // 1
    [0b111, 0b001, 0b111, 0b100, 0b111], // 2
    [0b111, 0b001, 0b111, 0b001, 0b111], // 3
    [0b101, 0b101, 0b111, 0b001, 0b001], // 4
    [0b111, 0b100, 0b111, 0b001, 0b111], // 5
    [0b111, 0b100, 0b111, 0b101, 0b111], // 6
    [0b111, 0b001, 0b001, 0b001, 0b001], // 7
    [0b111, 0b101, 0b111, 0b101, 0b111], // 8
    [0b111, 0b101, 0b111, 0b001, 0b111], // 9
    [0b000, 0b010, 0b111, 0b010, 0b000], // +
];

const BADGE_RGB: [u8; 3] = [0xD9, 0x30, 0x25];
const TEXT_RGB: [u8; 3] = [0xFF, 0xFF, 0xFF];

/// What the badge says: nothing for 0, the number up to 99, then `99+`.
pub fn label(count: u64) -> Option<String> {
    match count {
        0 => None,
        1..=99 => Some(count.to_string()),
        _ => Some("99+".to_string()),
    }
}

/// Size of one font cell in pixels: the digits take about a third of the icon's height,
/// large enough to read at 22 px tray size.
fn scale_for(size: u32) -> u32 {
    (size * 7 / 100).max(1)
}

fn glyph(c: char) -> Option<&'static [u8; 5]> {
    match c {
        '0'..='9' => GLYPHS.get(c as usize - '0' as usize),
        '+' => GLYPHS.get(10),
        _ => None,
    }
}

/// Returns a copy of the square RGBA image `base` (`size` x `size`) with a red pill in
/// the top-right corner holding `count` in white. `count == 0` returns the image as is.
pub fn draw(base: &[u8], size: u32, count: u64) -> Vec<u8> {
    let mut px = base.to_vec();
    let Some(text) = label(count) else {
        return px;
    };
    if size < 16 || px.len() < (size * size * 4) as usize {
        return px;
    }
    let scale = scale_for(size);
    let gw = 3 * scale;
    let gh = 5 * scale;
    let gap = scale;
    let chars = text.chars().count() as u32;
    let text_w = chars * gw + (chars - 1) * gap;
    let pad = scale;
    let bh = gh + 2 * pad;
    let bw = (text_w + 2 * pad).max(bh).min(size);
    let x0 = size - bw;
    let y0 = 0;
    let r = bh as f32 / 2.0;

    // The pill: a rectangle with half-circle ends, edges anti-aliased by coverage.
    for y in y0..y0 + bh {
        for x in x0..x0 + bw {
            let fx = x as f32 + 0.5;
            let fy = y as f32 + 0.5;
            let cx = fx.clamp(x0 as f32 + r, (x0 + bw) as f32 - r);
            let cy = y0 as f32 + r;
            let d = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt();
            let cover = (r - d + 0.5).clamp(0.0, 1.0);
            if cover > 0.0 {
                blend(&mut px, size, x, y, BADGE_RGB, cover);
            }
        }
    }
    // The digits, centred in the pill.
    let mut tx = x0 + (bw - text_w) / 2;
    let ty = y0 + (bh - gh) / 2;
    for c in text.chars() {
        if let Some(rows) = glyph(c) {
            for (row, bits) in rows.iter().enumerate() {
                for col in 0..3u32 {
                    if bits & (0b100 >> col) != 0 {
                        for dy in 0..scale {
                            for dx in 0..scale {
                                let x = tx + col * scale + dx;
                                let y = ty + row as u32 * scale + dy;
                                if x < size && y < size {
                                    blend(&mut px, size, x, y, TEXT_RGB, 1.0);
                                }
                            }
                        }
                    }
                }
            }
        }
        tx += gw + gap;
    }
    px
}

fn blend(px: &mut [u8], size: u32, x: u32, y: u32, rgb: [u8; 3], a: f32) {
    let i = ((y * size + x) * 4) as usize;
    let Some(p) = px.get_mut(i..i + 4) else {
        return;
    };
    let da = p[3] as f32 / 255.0;
    let out_a = a + da * (1.0 - a);
    for k in 0..3 {
        let src = rgb[k] as f32 / 255.0;
        let dst = p[k] as f32 / 255.0;
        let v = if out_a > 0.0 {
            (src * a + dst * da * (1.0 - a)) / out_a
        } else {
            0.0
        };
        p[k] = (v * 255.0).round() as u8;
    }
    p[3] = (out_a * 255.0).round() as u8;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank(size: u32) -> Vec<u8> {
        vec![0u8; (size * size * 4) as usize]
    }

    fn pixel(px: &[u8], size: u32, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * size + x) * 4) as usize;
        [px[i], px[i + 1], px[i + 2], px[i + 3]]
    }

    #[test]
    fn zero_leaves_the_icon_alone() {
        let base: Vec<u8> = (0..64 * 64 * 4).map(|i| (i % 251) as u8).collect();
        assert_eq!(draw(&base, 64, 0), base);
    }

    #[test]
    fn labels_cap_at_99_plus() {
        assert_eq!(label(0), None);
        assert_eq!(label(7).as_deref(), Some("7"));
        assert_eq!(label(99).as_deref(), Some("99"));
        assert_eq!(label(100).as_deref(), Some("99+"));
    }

    #[test]
    fn the_badge_is_red_with_white_digits_in_the_top_right() {
        let size = 64;
        let img = draw(&blank(size), size, 8);
        // Bottom-left stays transparent.
        assert_eq!(pixel(&img, size, 2, 60)[3], 0);
        let mut red = 0;
        let mut white = 0;
        for y in 0..size / 2 {
            for x in size / 2..size {
                let p = pixel(&img, size, x, y);
                if p == [0xD9, 0x30, 0x25, 0xFF] {
                    red += 1;
                }
                if p == [0xFF, 0xFF, 0xFF, 0xFF] {
                    white += 1;
                }
            }
        }
        assert!(red > 200, "red pixels: {red}");
        // "8" is 13 lit cells of the 3x5 font, each scale x scale pixels.
        let scale = scale_for(size);
        assert_eq!(white, 13 * scale * scale);
    }

    #[test]
    fn different_counts_draw_different_images() {
        let a = draw(&blank(32), 32, 3);
        let b = draw(&blank(32), 32, 4);
        let c = draw(&blank(32), 32, 120);
        assert_ne!(a, b);
        assert_ne!(b, c);
    }

    #[test]
    fn short_buffers_do_not_panic() {
        assert_eq!(draw(&[0u8; 10], 64, 5), vec![0u8; 10]);
    }
}
