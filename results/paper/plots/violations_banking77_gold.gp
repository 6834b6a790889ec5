# violations_banking77_gold.gp: written by deferbench report; `gnuplot violations_banking77_gold.gp` in this folder reads violations_banking77_gold.dat
# and writes violations_banking77_gold.png and violations_banking77_gold.svg.
do for [out = 1:2] {
  if (out == 1) {
    if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
      set terminal pngcairo size 640,440
    } else {
      set terminal png size 640,440
    }
    set output 'violations_banking77_gold.png'
  } else {
    set terminal svg size 640,440
    set output 'violations_banking77_gold.svg'
  }
  set termoption noenhanced
  set key below
  set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05
  set grid
  set xlabel 'target'
  set ylabel 'violation rate'
  set yrange [0:1]
  set multiplot layout 1,1
  set title 'banking77_gold: all runs'
  plot 'violations_banking77_gold.dat' index 0 using ($1 + 0):2:3:4 with yerrorlines lc 1 pt 7 title 'guaranteed', \
       0.1 with lines dt 2 lc rgb 'black' title 'delta = 0.1'
  unset multiplot
  set output
}
