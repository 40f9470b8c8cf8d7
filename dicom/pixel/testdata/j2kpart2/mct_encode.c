/*
 * mct_encode writes a JPEG 2000 Part 2 codestream (ISO/IEC 15444-2) with an array-based
 * multiple component transform (Annex J: MCT, MCC and MCO marker segments, Rsiz with the
 * Part 2 and MCT capability bits) through OpenJPEG's encoder API. opj_compress documents a
 * -m option for this, but OpenJPEG 2.5.0's command line never parses it, so dicom/pixel's
 * tests build this driver with cc at test time to get a real Part 2 codestream.
 *
 *   mct_encode in.ppm out.j2k lossless|lossy
 *
 * in.ppm is a binary 8-bit PPM (P6, maxval 255).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openjpeg.h>

static int fail(const char *m) {
	fprintf(stderr, "mct_encode: %s\n", m);
	return 1;
}

int main(int argc, char **argv) {
	if (argc != 4) return fail("usage: mct_encode in.ppm out.j2k lossless|lossy");
	FILE *in = fopen(argv[1], "rb");
	if (in == NULL) return fail("cannot open the input");
	int w, h, maxval;
	if (fscanf(in, "P6 %d %d %d", &w, &h, &maxval) != 3 || maxval != 255 || w < 1 || h < 1 || w > 4096 || h > 4096 || fgetc(in) == EOF)
		return fail("want an 8-bit binary PPM");
	size_t n = (size_t)w * (size_t)h;
	unsigned char *rgb = malloc(n * 3);
	if (rgb == NULL || fread(rgb, 3, n, in) != n) return fail("short PPM");
	fclose(in);

	opj_image_cmptparm_t cp[3];
	memset(cp, 0, sizeof cp);
	for (int c = 0; c < 3; c++) {
		cp[c].dx = cp[c].dy = 1;
		cp[c].w = (OPJ_UINT32)w;
		cp[c].h = (OPJ_UINT32)h;
		cp[c].prec = 8;
	}
	opj_image_t *img = opj_image_create(3, cp, OPJ_CLRSPC_SRGB);
	if (img == NULL) return fail("cannot create the image");
	img->x1 = (OPJ_UINT32)w;
	img->y1 = (OPJ_UINT32)h;
	for (int c = 0; c < 3; c++)
		for (size_t p = 0; p < n; p++) img->comps[c].data[p] = rgb[3 * p + c];

	opj_cparameters_t par;
	opj_set_default_encoder_parameters(&par);
	par.numresolution = 3;
	if (strcmp(argv[3], "lossy") == 0) {
		par.irreversible = 1;
		par.tcp_numlayers = 1;
		par.tcp_rates[0] = 8;
		par.cp_disto_alloc = 1;
	}
	/* Each component minus the one before it: integer weights, so the transform is exactly
	 * invertible when the wavelet is. */
	OPJ_FLOAT32 matrix[9] = {1, 0, 0, -1, 1, 0, 0, -1, 1};
	OPJ_INT32 dc[3] = {0, 0, 0};
	if (!opj_set_MCT(&par, matrix, dc, 3)) return fail("opj_set_MCT");
	par.rsiz = OPJ_PROFILE_PART2 | OPJ_EXTENSION_MCT;

	opj_codec_t *codec = opj_create_compress(OPJ_CODEC_J2K);
	if (codec == NULL || !opj_setup_encoder(codec, &par, img)) return fail("encoder setup");
	opj_stream_t *s = opj_stream_create_default_file_stream(argv[2], OPJ_FALSE);
	if (s == NULL) return fail("cannot create the output");
	if (!opj_start_compress(codec, img, s) || !opj_encode(codec, s) || !opj_end_compress(codec, s)) return fail("encoding failed");
	opj_stream_destroy(s);
	opj_destroy_codec(codec);
	opj_image_destroy(img);
	free(par.mct_data);
	free(rgb);
	return 0;
}
