#include "tests/xnor/model_test_util.hpp"

namespace lowbit::quant::xnor::test {

namespace {

BConv2d bconv(std::mt19937& rng, std::int64_t in_c, std::int64_t out_c, std::int64_t kernel,
              std::int64_t pad, BinaryOutput output) {
  BConv2d b;
  b.out_c = out_c;
  b.kernel = kernel;
  b.stride = 1;
  b.pad = pad;
  b.weight = pack_rows(random_signs(rng, static_cast<std::size_t>(out_c * kernel * kernel * in_c)),
                       out_c * kernel * kernel, in_c);
  b.output = output;
  if (output == BinaryOutput::threshold) {
    const auto taps = static_cast<std::int32_t>(kernel * kernel * in_c);
    for (std::int64_t o = 0; o < out_c; ++o) {
      b.threshold.push_back(static_cast<std::int32_t>(rng() % (2 * taps + 1)) - taps);
      b.flip.push_back(static_cast<std::uint8_t>(rng() & 1u));
    }
  } else {
    b.scale = random_floats(rng, static_cast<std::size_t>(out_c), 0.01f, 0.1f);
    b.bias = random_floats(rng, static_cast<std::size_t>(out_c));
  }
  return b;
}

KConv2d kconv(std::mt19937& rng, std::int64_t in_c, std::int64_t out_c, std::int64_t kernel,
              std::int64_t pad, int wbits) {
  KConv2d k;
  k.out_c = out_c;
  k.kernel = kernel;
  k.pad = pad;
  k.weight_bits = wbits;
  k.weight = random_codes(rng, static_cast<std::size_t>(out_c * kernel * kernel * in_c), wbits);
  k.scale = random_floats(rng, static_cast<std::size_t>(out_c), 0.01f, 0.1f);
  k.bias = random_floats(rng, static_cast<std::size_t>(out_c));
  return k;
}

Conv2d linear(std::mt19937& rng, std::int64_t in_c, std::int64_t out_c) {
  return Conv2d{.out_c = out_c,
                .kernel = 1,
                .stride = 1,
                .pad = 0,
                .weight = random_floats(rng, static_cast<std::size_t>(out_c * in_c)),
                .bias = random_floats(rng, static_cast<std::size_t>(out_c))};
}

}  // namespace

Model make_every_op_model(std::uint32_t seed) {
  std::mt19937 rng(seed);
  Model m = Model::create({.channels = 3,
                           .height = 7,
                           .width = 7,
                           .mean = {0.5f, 0.4f, 0.3f},
                           .std = {0.25f, 0.2f, 0.3f}});
  ValueId x = m.input_id();
  x = m.add("conv1",
            Conv2d{.out_c = 16,
                   .kernel = 3,
                   .stride = 1,
                   .pad = 1,
                   .weight = random_floats(rng, 16 * 9 * 3),
                   .bias = random_floats(rng, 16)},
            {x});  // (7,7,16)
  x = m.add("bn1", Affine{random_floats(rng, 16, 0.5f, 2.0f), random_floats(rng, 16)}, {x});
  x = m.add("sign1", Sign{}, {x});                                              // bits
  x = m.add("bconv2", bconv(rng, 16, 65, 3, 1, BinaryOutput::threshold), {x});  // (7,7,65)
  const ValueId pool2 = m.add("pool2", MaxPool{2, 2, 0}, {x});                  // (3,3,65)
  const ValueId b3 = m.add("bconv3", bconv(rng, 65, 16, 3, 1, BinaryOutput::scale_bias), {pool2});
  x = m.add("relu3", Relu{}, {b3});
  x = m.add("clip3", Clip{0.0f, 1.0f}, {x});
  const ValueId q3 = m.add("q3", Quantize{2}, {x});        // codes2
  x = m.add("kconv4", kconv(rng, 16, 16, 3, 1, 2), {q3});  // (3,3,16)
  x = m.add("add4", Add{}, {x, b3});
  x = m.add("avg4", AvgPool{2, 1, 1}, {x});                                    // (4,4,16)
  x = m.add("mp4", MaxPool{2, 2, 0}, {x});                                     // (2,2,16)
  const ValueId gap = m.add("gap", GlobalAvgPool{}, {x});                      // (1,1,16)
  x = m.add("flat_bits", Flatten{}, {pool2});                                  // (1,1,585)
  x = m.add("blin", bconv(rng, 585, 32, 1, 0, BinaryOutput::threshold), {x});  // (1,1,32)
  x = m.add("blin_f", ToFloat{}, {x});
  const ValueId fc1 = m.add("fc1", linear(rng, 32, 10), {x});
  x = m.add("flat_codes", Flatten{}, {q3});  // (1,1,144)
  const ValueId klin = m.add("klin", kconv(rng, 144, 10, 1, 0, 3), {x});
  x = m.add("codes_f", ToFloat{}, {q3});
  x = m.add("gap2", GlobalAvgPool{}, {x});
  const ValueId fc2 = m.add("fc2", linear(rng, 16, 10), {gap});
  std::vector<std::int8_t> w8(160);
  for (auto& v : w8) v = static_cast<std::int8_t>(static_cast<int>(rng() % 255) - 127);
  const ValueId fc3 = m.add("fc3",
                            Conv2dI8{.out_c = 10,
                                     .kernel = 1,
                                     .stride = 1,
                                     .pad = 0,
                                     .weight = w8,
                                     .scale = random_floats(rng, 10, 0.001f, 0.01f),
                                     .bias = random_floats(rng, 10)},
                            {x});
  const ValueId qp = m.add("qp", QuantizePow2{.shift_bits = 2, .in_scale = 0.5f}, {gap});  // i8
  const ValueId fc4 = m.add("fc4",
                            Conv2dI8{.out_c = 10,
                                     .kernel = 1,
                                     .stride = 1,
                                     .pad = 0,
                                     .weight = w8,
                                     .scale = random_floats(rng, 10, 0.001f, 0.01f),
                                     .bias = {}},
                            {qp});
  x = m.add("sum1", Add{}, {fc1, klin});
  x = m.add("sum2", Add{}, {x, fc2});
  x = m.add("sum3", Add{}, {x, fc4});
  x = m.add("logits", Add{}, {x, fc3});
  m.class_names = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  m.metadata = {{"dataset", "synthetic"}, {"source", "test"}};
  return m;
}

}  // namespace lowbit::quant::xnor::test
