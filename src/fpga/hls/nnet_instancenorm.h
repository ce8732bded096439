#ifndef NNET_INSTANCENORM_H_
#define NNET_INSTANCENORM_H_

// Instance normalization for channels-last tensors (hls4ml extension of the jointvae-ad project).
//
// For every channel c of one sample, over its n_spatial positions s:
//   mean_c = sum_s x[s, c] / n                       (accum_t)
//   var_c  = sum_s (x[s, c] - mean_c)^2 / n          (var_t, population variance, two passes)
//   r_c    = 1 / sqrt(var_c + epsilon)               (lookup table and newton_steps Newton-Raphson
//                                                     steps, see instancenorm_rsqrt)
//   y[s,c] = gamma_c * ((x[s, c] - mean_c) * r_c) + beta_c
// with (x - mean) * r held in norm_t. The precisions are set in Python (src/hls_instancenorm.py).

#include "hls_stream.h"
#include "nnet_common.h"
#include <cmath>

namespace nnet {

struct instancenorm_config {
    // Sizes
    static const unsigned n_spatial = 25; // positions per channel (height * width)
    static const unsigned n_chan = 4;

    // 1/sqrt table: table_size = 2^(table_mantissa_bits + 1) entries
    static const unsigned table_size = 1024;
    static const unsigned table_mantissa_bits = 9;
    // epsilon as the raw bits of a var_t value
    static const unsigned long long epsilon_raw = 1;
    // Newton-Raphson steps refining the table's 1/sqrt (0 or 1), computed in rsqrt_t
    static const unsigned newton_steps = 0;

    static const unsigned io_type = io_parallel;
    static const unsigned reuse_factor = 1;

    typedef ap_fixed<34, 15> accum_t;       // sums, mean and deviations
    typedef ap_ufixed<42, 21> var_t;        // sum of squared deviations, variance, variance + epsilon
    typedef ap_ufixed<18, 1> table_t;       // 1/sqrt(m) for a mantissa m in [1, 4)
    typedef ap_ufixed<18, 1> rsqrt_t;       // 1/sqrt(m) after the Newton-Raphson step (truncated)
    typedef ap_ufixed<40, 12> inv_t;        // 1/sqrt(var + epsilon), wide enough to hold any table entry shifted
    typedef ap_fixed<23, 7> norm_t;         // (x - mean) / sqrt(var + epsilon)
    typedef ap_ufixed<33, 1> inv_n_t;       // 1 / n_spatial
    typedef ap_fixed<16, 6> scale_t;
    typedef ap_fixed<16, 6> bias_t;
};

// Entry i of the table holds 1/sqrt(m) at the centre of mantissa bin i:
// the first half covers m in [1, 2), the second half m in [2, 4), each in 2^table_mantissa_bits equal bins.
template <typename CONFIG_T> void init_instancenorm_table(typename CONFIG_T::table_t table[CONFIG_T::table_size]) {
    const unsigned half = CONFIG_T::table_size / 2;
    for (unsigned i = 0; i < CONFIG_T::table_size; i++) {
        double m = 1.0 + ((i % half) + 0.5) / half;
        if (i >= half) {
            m *= 2.0;
        }
        table[i] = (typename CONFIG_T::table_t)(1.0 / std::sqrt(m));
    }
}

// 1/sqrt(v) for v > 0, in the manner of a floating-point reciprocal square root:
// v = m * 4^k with m in [1, 4) (the leading one of v gives k and whether m < 2),
// 1/sqrt(v) = table(m) * 2^-k. The relative error of the table is at most about
// 2^-(table_mantissa_bits + 2) plus the rounding of table_t. With newton_steps = 1 the table
// value t is refined once, t (3 - m t^2) / 2, with m truncated to rsqrt_t's fractional bits and
// the product exact, then truncated to rsqrt_t: the relative error becomes about 1.5 times its
// square plus the truncations. The shift by k is exact in inv_t. The step costs three products
// per channel and sample, not per pixel.
template <typename CONFIG_T>
typename CONFIG_T::inv_t instancenorm_rsqrt(typename CONFIG_T::var_t v,
                                            const typename CONFIG_T::table_t table[CONFIG_T::table_size]) {
    #pragma HLS INLINE
    const int vw = CONFIG_T::var_t::width;
    const int vf = CONFIG_T::var_t::width - CONFIG_T::var_t::iwidth;
    const int mb = CONFIG_T::table_mantissa_bits;
    const int rf = CONFIG_T::rsqrt_t::width - CONFIG_T::rsqrt_t::iwidth;

    ap_uint<vw> bits = v.range(vw - 1, 0);
    int lead = 0;
LeadingOne:
    for (int i = 0; i < vw; i++) {
        #pragma HLS UNROLL
        if (bits[i]) {
            lead = i;
        }
    }
    const int e = lead - vf; // v in [2^e, 2^(e+1))
    const int odd = e & 1;   // m in [2, 4) when e is odd
    const int k = (e - odd) / 2;

    ap_uint<vw + mb> wide = bits;
    wide <<= mb;
    wide >>= lead;
    ap_uint<mb> mantissa = wide; // the mb bits below the leading one
    unsigned index = odd * (CONFIG_T::table_size / 2) + mantissa.to_uint();

    typename CONFIG_T::rsqrt_t t = table[index];
    if (CONFIG_T::newton_steps > 0) {
        ap_uint<vw + rf + 2> aligned = bits;
        aligned <<= (rf + odd);
        aligned >>= lead; // floor(m * 2^rf)
        ap_ufixed<rf + 2, 2> m;
        m.range(rf + 1, 0) = aligned.range(rf + 1, 0);
        const ap_ufixed<2, 2> three = 3;
        const ap_ufixed<1, 0> half = 0.5;
        t = t * (three - m * t * t) * half;
    }
    typename CONFIG_T::inv_t r = t;
    if (k > 0) {
        r = r >> k;
    } else {
        r = r << (-k);
    }
    return r;
}

// Normalizes one sample held in a channels-last array (shared by the io_parallel and io_stream versions).
template <class data_T, class res_T, typename CONFIG_T>
void instancenorm_array(const data_T data[CONFIG_T::n_spatial * CONFIG_T::n_chan],
                        res_T res[CONFIG_T::n_spatial * CONFIG_T::n_chan],
                        const typename CONFIG_T::scale_t scale[CONFIG_T::n_chan],
                        const typename CONFIG_T::bias_t bias[CONFIG_T::n_chan]) {
    #pragma HLS INLINE
#ifdef __HLS_SYN__
    bool initialized = false;
    typename CONFIG_T::table_t table[CONFIG_T::table_size];
#else
    static bool initialized = false;
    static typename CONFIG_T::table_t table[CONFIG_T::table_size];
#endif
    if (!initialized) {
        init_instancenorm_table<CONFIG_T>(table);
        initialized = true;
    }

    const typename CONFIG_T::inv_n_t inv_n = 1.0 / CONFIG_T::n_spatial;
    typename CONFIG_T::var_t epsilon = 0;
    epsilon.range(CONFIG_T::var_t::width - 1, 0) = CONFIG_T::epsilon_raw;

ChannelLoop:
    for (unsigned c = 0; c < CONFIG_T::n_chan; c++) {
        typename CONFIG_T::accum_t sum = 0;
    SumLoop:
        for (unsigned s = 0; s < CONFIG_T::n_spatial; s++) {
            sum += data[s * CONFIG_T::n_chan + c];
        }
        const typename CONFIG_T::accum_t mean = sum * inv_n;

        typename CONFIG_T::var_t sum_sq = 0;
    VarianceLoop:
        for (unsigned s = 0; s < CONFIG_T::n_spatial; s++) {
            const typename CONFIG_T::accum_t d = data[s * CONFIG_T::n_chan + c] - mean;
            sum_sq += d * d;
        }
        const typename CONFIG_T::var_t var = sum_sq * inv_n;
        const typename CONFIG_T::var_t var_eps = var + epsilon;
        const typename CONFIG_T::inv_t r = instancenorm_rsqrt<CONFIG_T>(var_eps, table);

    OutputLoop:
        for (unsigned s = 0; s < CONFIG_T::n_spatial; s++) {
            const typename CONFIG_T::accum_t d = data[s * CONFIG_T::n_chan + c] - mean;
            const typename CONFIG_T::norm_t z = d * r;
            res[s * CONFIG_T::n_chan + c] = (res_T)(z * scale[c] + bias[c]);
        }
    }
}

// io_parallel: the whole sample at once.
template <class data_T, class res_T, typename CONFIG_T>
void instancenorm(data_T data[CONFIG_T::n_spatial * CONFIG_T::n_chan], res_T res[CONFIG_T::n_spatial * CONFIG_T::n_chan],
                  typename CONFIG_T::scale_t scale[CONFIG_T::n_chan], typename CONFIG_T::bias_t bias[CONFIG_T::n_chan]) {
    #pragma HLS PIPELINE II=CONFIG_T::reuse_factor
    #pragma HLS ARRAY_PARTITION variable=scale complete
    #pragma HLS ARRAY_PARTITION variable=bias complete
    instancenorm_array<data_T, res_T, CONFIG_T>(data, res, scale, bias);
}

// io_stream: one pixel (all channels) per stream word. The statistics need the whole image,
// so the sample is buffered (n_spatial * n_chan values) before the first output is written.
template <class data_T, class res_T, typename CONFIG_T>
void instancenorm(hls::stream<data_T> &data, hls::stream<res_T> &res, typename CONFIG_T::scale_t scale[CONFIG_T::n_chan],
                  typename CONFIG_T::bias_t bias[CONFIG_T::n_chan]) {
    #pragma HLS ARRAY_PARTITION variable=scale complete
    #pragma HLS ARRAY_PARTITION variable=bias complete
    typename data_T::value_type in_buf[CONFIG_T::n_spatial * CONFIG_T::n_chan];
    typename res_T::value_type out_buf[CONFIG_T::n_spatial * CONFIG_T::n_chan];
    #pragma HLS ARRAY_PARTITION variable=in_buf cyclic factor=data_T::size
    #pragma HLS ARRAY_PARTITION variable=out_buf cyclic factor=res_T::size

ReadLoop:
    for (unsigned s = 0; s < CONFIG_T::n_spatial; s++) {
        #pragma HLS PIPELINE
        data_T in_pack = data.read();
        for (unsigned c = 0; c < data_T::size; c++) {
            #pragma HLS UNROLL
            in_buf[s * CONFIG_T::n_chan + c] = in_pack[c];
        }
    }

    instancenorm_array<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(in_buf, out_buf, scale, bias);

WriteLoop:
    for (unsigned s = 0; s < CONFIG_T::n_spatial; s++) {
        #pragma HLS PIPELINE
        res_T out_pack;
        PRAGMA_DATA_PACK(out_pack)
        for (unsigned c = 0; c < res_T::size; c++) {
            #pragma HLS UNROLL
            out_pack[c] = out_buf[s * CONFIG_T::n_chan + c];
        }
        res.write(out_pack);
    }
}

} // namespace nnet

#endif
